"""One alert, one trace, across the real processes; and what /metrics says about it.

The services export spans over OTLP/gRPC, as in production, to a collector this test runs (the
protocol's own gRPC service, from opentelemetry-proto): the trace context crosses the outbox, the
relay's Kafka header and each consumer for real.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.parser import text_string_to_metric_families

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.stack import Stack

from .conftest import Tenant, make_tenant, start_stack
from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e

WEBHOOK_ROUTE = "POST /webhooks/{provider}/{integration_id}"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items if isinstance(kv, KeyValue)}


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver that keeps every span it is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the protocol's name
        with self._lock:
            for resource_spans in request.resource_spans:
                service = _attributes(resource_spans.resource.attributes).get("service.name", "?")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self._spans.append(ReceivedSpan(
                            service, span.name, span.kind, span.trace_id.hex(), span.span_id.hex(),
                            span.parent_span_id.hex(), _attributes(span.attributes)))
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, int]]:
    receiver = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(grace=None)


@pytest.fixture(scope="module")
def traced_stack(collector: tuple[Collector, int]) -> Iterator[Stack]:
    running = start_stack("memory", {
        "SIGNALCRAFT_OTLP_ENDPOINT": f"http://127.0.0.1:{collector[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 200 ms, not every 5 s
    })
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tenant(traced_stack: Stack) -> Iterator[Tenant]:
    created = make_tenant(traced_stack)
    yield created
    created.admin.close()


@pytest.fixture(scope="module")
def delivered(tenant: Tenant) -> dict[str, Any]:
    """One Sentry alert, sent once, until its Slack message is posted."""
    with httpx.Client(timeout=30) as client:
        body = event_alert("4200001")
        response = client.post(tenant.webhook_url, content=body,
                               headers=sentry_headers(body, tenant.secret, "event_alert"))
    assert response.status_code == 202, response.text
    return wait_until(lambda: tenant.slack_messages(), 60, what="the alert's Slack message")[0]


def status_of(span: ReceivedSpan) -> Any:
    return span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))


# Each service exports on its own schedule, and a consumer span ends after its batch: wait for all.
EXPECTED = {("signalcraft-grouping", "process alerts.normalized"), ("signalcraft-router", "process groups.events"),
            ("signalcraft-notifier", "process notifications.requested"), ("signalcraft-notifier", "slack chat.postMessage")}


def one_alerts_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    """The spans of the accepted webhook's trace, once every hop up to the Slack call is among them."""
    accepted = [s for s in spans if s.name == WEBHOOK_ROUTE and status_of(s) == 202]
    if len(accepted) != 1:
        return None
    trace = [s for s in spans if s.trace_id == accepted[0].trace_id]
    return trace if EXPECTED <= {(s.service, s.name) for s in trace} else None


def child_of(trace: list[ReceivedSpan], parent: ReceivedSpan, service: str, name: str) -> ReceivedSpan:
    children = [s for s in trace if s.parent_span_id == parent.span_id and s.service == service and s.name == name]
    assert len(children) == 1, (f"{service} {name!r} under {parent.service} {parent.name!r}",
                                [(s.service, s.name, s.parent_span_id) for s in trace])
    return children[0]


def test_one_alert_is_one_trace_from_the_webhook_to_the_slack_call(
        delivered: dict[str, Any], collector: tuple[Collector, int]) -> None:
    receiver = collector[0]
    trace = wait_until(lambda: one_alerts_trace(receiver.spans()), 30, what="the alert's trace up to the Slack call")
    print("\n".join(f"{s.service:24} {Span.SpanKind.Name(s.kind):18} {s.name}  span={s.span_id} parent={s.parent_span_id or '-'}"
                    for s in trace))
    assert len({s.trace_id for s in trace}) == 1
    (webhook,) = [s for s in trace if s.name == WEBHOOK_ROUTE]
    assert webhook.service == "signalcraft-ingest" and webhook.kind == Span.SPAN_KIND_SERVER
    grouping = child_of(trace, webhook, "signalcraft-grouping", "process alerts.normalized")
    router = child_of(trace, grouping, "signalcraft-router", "process groups.events")
    notifier = child_of(trace, router, "signalcraft-notifier", "process notifications.requested")
    slack = child_of(trace, notifier, "signalcraft-notifier", "slack chat.postMessage")
    assert slack.kind == Span.SPAN_KIND_CLIENT
    for consumer, group in ((grouping, "grouping"), (router, "router"), (notifier, "notifier")):
        assert consumer.kind == Span.SPAN_KIND_CONSUMER
        assert consumer.attributes["messaging.consumer.group.name"] == group
        assert consumer.attributes["messaging.system"] == "kafka"


def scrape(stack: Stack, service: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_show_the_alert_on_every_service(delivered: dict[str, Any], traced_stack: Stack) -> None:
    ingest = scrape(traced_stack, "ingest")
    assert value(ingest, "signalcraft_webhooks_received_total", provider="sentry") >= 2  # the probe and the alert
    # make_tenant's unsigned probe until ingest knew the integration: refused for its signature.
    assert value(ingest, "signalcraft_webhooks_rejected_total", provider="sentry", reason="authentication_failed") >= 1
    assert value(ingest, "signalcraft_alerts_normalized_total", provider="sentry") == 1
    assert value(ingest, "signalcraft_outbox_published_total", schema="ingest") >= 1

    grouping = scrape(traced_stack, "grouping")
    assert value(grouping, "signalcraft_groups_opened_total") == 1
    assert value(grouping, "signalcraft_consumer_records_total", group="grouping") >= 1
    lags = [v for (name, labels), v in grouping.items()
            if name == "signalcraft_consumer_lag_records" and ("group", "grouping") in labels]
    assert lags and all(v >= 0 for v in lags)

    def counted_delivery() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        samples = scrape(traced_stack, "notifier")  # the result is recorded just after the Slack call
        return samples if value(samples, "signalcraft_notifications_sent_total", kind="new_group") else None

    notifier = wait_until(counted_delivery, 30, what="the delivery counted")
    assert value(notifier, "signalcraft_notifications_sent_total", kind="new_group") == 1
    assert value(notifier, "signalcraft_slack_request_duration_seconds_count",
                 method="chat.postMessage", outcome="ok") >= 1

    for service, schema in (("ingest", "ingest"), ("grouping", "grouping"), ("router", "router"),
                            ("notifier", "notifier"), ("escalator", "escalator"), ("query-api", "query")):
        samples = scrape(traced_stack, service)
        assert value(samples, "signalcraft_outbox_rows", schema=schema) is not None, service
        assert value(samples, "signalcraft_outbox_oldest_age_seconds", schema=schema) is not None, service
    excerpt = httpx.get(f"{traced_stack.url('notifier')}/metrics", timeout=10).text
    print("\n".join(line for line in excerpt.splitlines() if line.startswith("signalcraft_") and "_bucket" not in line))
