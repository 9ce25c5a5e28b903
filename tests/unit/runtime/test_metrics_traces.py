"""Tracing within a process, with the SDK's in-memory exporter: HTTP server spans, the traceparent an
emitted event keeps, the header the relay sends, consumer spans per record and their children.
tests/e2e/test_observability.py follows one alert across the real processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from signalcraft_runtime import telemetry
from signalcraft_runtime.consumer import ConsumerStats, decode_records, subscribe_batches
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.relay import outgoing
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, encode
from signalcraft_schemas.events import GroupOpened
from tests.unit.builders import T0, make_group

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = int("0af7651916cd43dd8448eb211c80319c", 16)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install(provider)
    yield exporter
    telemetry.install(None)


def event(causation_id: UUID | None = None) -> Envelope[Any]:
    return Envelope.wrap(GroupOpened(group=make_group()), workspace_id="ws-1", key="k", correlation_id="c",
                         occurred_at=T0, causation_id=causation_id)


def record(env: Envelope[Any], offset: int, traceparent: str | None) -> ConsumerRecord[Any, Any]:
    headers = ((telemetry.TRACEPARENT, traceparent.encode()),) if traceparent else ()
    return ConsumerRecord("groups.events", 0, offset, 0, 0, b"k", encode(env), None, 1, 1, headers)


def trace_id_of(traceparent: str | None) -> int:
    assert traceparent is not None
    return int(traceparent.split("-")[1], 16)


async def test_a_request_gets_a_server_span_and_what_it_emits_continues_its_trace(spans: InMemorySpanExporter) -> None:
    app = FastAPI()

    @app.post("/webhooks/{provider}")
    async def webhook(provider: str) -> dict[str, Any]:
        uow = UnitOfWork(None, ServiceTables("t"))  # type: ignore[arg-type]
        uow.emit(event())  # not committed: staging is enough to see the traceparent it keeps
        return {"traceparent": uow._pending[0]["traceparent"]}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    telemetry.instrument_http(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        emitted = (await client.post("/webhooks/sentry")).json()["traceparent"]
        await client.get("/healthz")
    (server,) = spans.get_finished_spans()  # health checks are not traced
    assert server.name == "POST /webhooks/{provider}" and server.kind == SpanKind.SERVER
    assert trace_id_of(emitted) == server.context.trace_id
    assert emitted.split("-")[2] == format(server.context.span_id, "016x")


def test_the_relay_sends_the_rows_traceparent_as_a_kafka_header() -> None:
    assert outgoing((1, "groups.events", "k", b"{}", TRACEPARENT)).headers == (("traceparent", TRACEPARENT.encode()),)
    assert outgoing((2, "groups.events", "k", b"{}", None)).headers == ()


def test_each_record_gets_a_consumer_span_and_what_it_causes_continues_its_trace(spans: InMemorySpanExporter) -> None:
    first, second = event(), event()
    records = [record(first, 10, TRACEPARENT), record(second, 11, None)]
    with telemetry.consumer_spans("router", records):
        decode_records(records)
        caused_by_first = telemetry.traceparent_for(first.id)
        caused_by_second = telemetry.traceparent_for(second.id)
        with telemetry.within(first.id), telemetry.client_span("slack chat.postMessage"):
            pass
    finished = {s.name: s for s in spans.get_finished_spans() if s.kind != SpanKind.CONSUMER}
    consumed = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert [s.name for s in consumed] == ["process groups.events"] * 2
    with_parent = next(s for s in consumed if s.attributes["messaging.kafka.offset"] == 10)
    without = next(s for s in consumed if s.attributes["messaging.kafka.offset"] == 11)
    # The record's header is the parent; a record without one starts a trace of its own.
    assert with_parent.context.trace_id == TRACE_ID and with_parent.parent.span_id == int("b7ad6b7169203331", 16)
    assert without.parent is None and without.context.trace_id != TRACE_ID
    assert with_parent.attributes["messaging.consumer.group.name"] == "router"
    assert with_parent.attributes["messaging.message.id"] == str(first.id)
    assert trace_id_of(caused_by_first) == TRACE_ID
    assert caused_by_first.split("-")[2] == format(with_parent.context.span_id, "016x")
    assert trace_id_of(caused_by_second) == without.context.trace_id
    slack = finished["slack chat.postMessage"]
    assert slack.kind == SpanKind.CLIENT and slack.parent.span_id == with_parent.context.span_id


def test_a_failed_batch_marks_its_spans(spans: InMemorySpanExporter) -> None:
    records = [record(event(), 1, TRACEPARENT)]
    with pytest.raises(RuntimeError), telemetry.consumer_spans("grouping", records):
        raise RuntimeError("database down")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR and span.events[0].name == "exception"


def test_without_tracing_a_records_traceparent_still_passes_on() -> None:
    telemetry.install(None)
    cause = event()
    records = [record(cause, 1, TRACEPARENT)]
    with telemetry.consumer_spans("grouping", records):
        decode_records(records)
        assert telemetry.traceparent_for(cause.id) == TRACEPARENT
    assert telemetry.traceparent_for(cause.id) is None  # outside the batch: no trace


async def test_the_subscriber_traces_the_records_of_a_batch(spans: InMemorySpanExporter) -> None:
    cause = event()
    seen: list[str | None] = []

    async def process(records: list[ConsumerRecord[Any, Any]]) -> None:
        decode_records(records)
        seen.append(telemetry.traceparent_for(cause.id))

    broker = KafkaBroker()
    subscribe_batches(broker, ServiceSettings(), "notifier", ["groups.events"], process, ConsumerStats())
    async with TestKafkaBroker(broker, with_real=False) as test_broker:
        await test_broker.publish_batch(encode(cause), topic="groups.events", headers={"traceparent": TRACEPARENT})
    (span,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert span.context.trace_id == TRACE_ID and trace_id_of(seen[0]) == TRACE_ID


def test_log_lines_inside_a_span_carry_its_ids(spans: InMemorySpanExporter) -> None:
    tracer = telemetry.tracer()
    assert tracer is not None
    with tracer.start_as_current_span("work") as span:
        inside = telemetry.add_trace_ids(None, "info", {"event": "hello"})
    outside = telemetry.add_trace_ids(None, "info", {"event": "hello"})
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in outside
