"""OpenTelemetry: one trace per alert, from the webhook to the Slack call.

- Export: spans go over OTLP/gRPC when SIGNALCRAFT_OTLP_ENDPOINT is set (http:// plain, https://
  TLS); the SDK's OTEL_* variables (sampler, batch delay...) apply as usual.
- HTTP: FastAPI's instrumentation gives every request a SERVER span (health and metrics excluded).
- Outbox: an emitted event records, in its outbox row, the W3C traceparent of what caused it: the
  consumer span of the event it was caused by (`Envelope.causation_id`), else the current span
  (a webhook's or an API request's). The relay sends it as the Kafka record's `traceparent`
  header. Everything SignalCraft publishes goes through the outbox, so this is the only hop.
- Consumers: each record gets a CONSUMER span, the child of its header's context, open while its
  batch is processed (one transaction for many records, so one span per record, not per batch).
- Logs carry the current span's trace_id and span_id (`add_trace_ids`, a structlog processor).

A process without an endpoint records nothing, yet passes a record's traceparent on to the events
it causes, so a trace survives a service that does not export.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
PROPAGATOR = TraceContextTextMapPropagator()
INSTRUMENTATION = "signalcraft"
UNTRACED_PATHS = "/healthz,/readyz,/metrics"

_provider: TracerProvider | None = None


def configure_tracing(service: str, otlp_endpoint: str | None) -> TracerProvider | None:
    """The process's tracer provider, exporting to `otlp_endpoint`; None (no spans) without one."""
    if not otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"signalcraft-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    install(provider)
    trace.set_tracer_provider(provider)  # for libraries that use the global one
    return provider


def install(provider: TracerProvider | None) -> None:
    """Record spans with `provider` from now on (None: record nothing). Tests install an in-memory one."""
    global _provider
    _provider = provider


def tracer() -> trace.Tracer | None:
    return _provider.get_tracer(INSTRUMENTATION) if _provider is not None else None


def instrument_http(app: Any) -> None:
    """A SERVER span per request of this FastAPI app, when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=UNTRACED_PATHS,
                                       exclude_spans=["receive", "send"])


def traceparent_of(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def current_traceparent() -> str | None:
    """The current span's traceparent (a request's, in a handler), or None outside any span."""
    span = trace.get_current_span()
    return traceparent_of(span) if span.get_span_context().is_valid else None


# --- consumers ---------------------------------------------------------------------------------

RecordId = tuple[str, int, int]  # topic, partition, offset


@dataclass
class Consumed:
    """A record being processed: the traceparent its events carry on, and its span if recorded."""

    traceparent: str | None
    span: Span | None = None


@dataclass
class BatchTrace:
    by_record: dict[RecordId, Consumed] = field(default_factory=dict)
    by_event: dict[UUID, Consumed] = field(default_factory=dict)


_batch: ContextVar[BatchTrace | None] = ContextVar("signalcraft_batch_trace", default=None)


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value:
            return value.decode("ascii", errors="replace") if isinstance(value, bytes) else str(value)
    return None


def _consumer_span(tracer_: trace.Tracer, group: str, record: Any, incoming: str | None) -> Span:
    parent = PROPAGATOR.extract({TRACEPARENT: incoming}) if incoming else None
    return tracer_.start_span(
        f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                    "messaging.destination.name": record.topic, "messaging.consumer.group.name": group,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset})


@contextmanager
def consumer_spans(group: str, records: Sequence[Any]) -> Iterator[None]:
    """Around the processing of a polled batch: a CONSUMER span per record (when tracing is on),
    ended when the batch is done; an error out of the batch marks all of them."""
    tracer_ = tracer()
    batch = BatchTrace()
    for record in records:
        incoming = header(record, TRACEPARENT)
        if tracer_ is not None:
            span = _consumer_span(tracer_, group, record, incoming)
            batch.by_record[(record.topic, record.partition, record.offset)] = Consumed(traceparent_of(span), span)
        elif incoming is not None:
            batch.by_record[(record.topic, record.partition, record.offset)] = Consumed(incoming)
    if not batch.by_record:
        yield
        return
    token = _batch.set(batch)
    try:
        yield
    except BaseException as exc:
        for consumed in batch.by_record.values():
            if consumed.span is not None:
                consumed.span.record_exception(exc)
                consumed.span.set_status(Status(StatusCode.ERROR, repr(exc)[:200]))
        raise
    finally:
        _batch.reset(token)
        for consumed in batch.by_record.values():
            if consumed.span is not None:
                consumed.span.end()


def note_event(record: Any, event_id: UUID) -> None:
    """`record` carried the event `event_id`: what that event causes continues the record's trace."""
    batch = _batch.get()
    if batch is None:
        return
    consumed = batch.by_record.get((record.topic, record.partition, record.offset))
    if consumed is not None:
        batch.by_event[event_id] = consumed
        if consumed.span is not None:
            consumed.span.set_attribute("messaging.message.id", str(event_id))


def traceparent_for(causation_id: UUID | None) -> str | None:
    """The traceparent for an event being emitted: that of the consumed event which caused it, else
    the current span's."""
    batch = _batch.get()
    if batch is not None and causation_id is not None:
        consumed = batch.by_event.get(causation_id)
        if consumed is not None:
            return consumed.traceparent
    return current_traceparent()


class within:  # noqa: N801 - used like a function: `with within(env.id):`
    """Make the consumer span of event `event_id` current, so what is done for that event (its
    Slack call) becomes its child. Usable with `with` and `async with`."""

    def __init__(self, event_id: UUID) -> None:
        batch = _batch.get()
        consumed = batch.by_event.get(event_id) if batch is not None else None
        self._span = consumed.span if consumed is not None else None
        self._token: object | None = None

    def __enter__(self) -> None:
        if self._span is not None:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


@contextmanager
def client_span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A CLIENT span (a call to another system) under the current span, when tracing is on."""
    tracer_ = tracer()
    if tracer_ is None:
        yield None
        return
    with tracer_.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=dict(attributes or {})) as span:
        yield span


def failed(span: Span | None, description: str) -> None:
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, description))


# --- logs --------------------------------------------------------------------------------------

def add_trace_ids(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the current span's ids on every log line written inside it."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event
