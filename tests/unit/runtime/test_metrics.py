"""Prometheus metrics: what each counts, their names, and /metrics on every service."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
from aiokafka import ConsumerRecord, TopicPartition
from fastapi import FastAPI
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from signalcraft_ingest.adapters.http import webhook_router
from signalcraft_ingest.domain.errors import AuthenticationFailed
from signalcraft_notifier.adapters.slack import SlackClient
from signalcraft_runtime import metrics
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    AlertNormalized, EscalationFired, GroupOpened, MessageDeadLettered, NotificationDelivered, NotificationFailed,
    NotificationKind,
)
from tests.unit.builders import T0, make_alert, make_group


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def envelope(data: Any) -> Envelope[Any]:
    return Envelope.wrap(data, workspace_id="ws-1", key="k", correlation_id="c", occurred_at=T0)


def test_every_metric_is_prefixed_and_named_with_its_unit() -> None:
    defined = [v for v in vars(metrics).values() if isinstance(v, (Counter, Gauge, Histogram))]
    assert len(defined) >= 17
    for metric in defined:
        name = metric._name  # as exposed, before the _total / _bucket suffixes
        assert name.startswith("signalcraft_"), name
        if isinstance(metric, Histogram):
            assert name.endswith("_seconds"), name
        if isinstance(metric, Gauge):
            assert name.endswith(("_records", "_rows", "_seconds")), name
        assert metric._documentation, f"{name} has no help text"


def test_committed_events_count_in_their_metrics() -> None:
    before = {
        "alerts": sample("signalcraft_alerts_normalized_total", provider="grafana"),
        "opened": sample("signalcraft_groups_opened_total"),
        "sent": sample("signalcraft_notifications_sent_total", kind="new_group"),
        "failed": sample("signalcraft_notifications_failed_total", error="connection_error"),
        "fired": sample("signalcraft_escalations_fired_total"),
        "dead": sample("signalcraft_dead_letters_total", group="router", topic="groups.events"),
    }
    group = make_group()
    metrics.count_committed([
        envelope(AlertNormalized(alert=make_alert(source="grafana"), group_key="k", integration_id="i", delivery_id="d")),
        envelope(AlertNormalized(alert=make_alert(source="grafana"), group_key="k", integration_id="i", delivery_id="d")),
        envelope(GroupOpened(group=group)),
        envelope(NotificationDelivered(request_id=uuid4(), kind=NotificationKind.NEW_GROUP, group_id=group.group_id,
                                       channel="#c", message_ts="1.2", attempts=1, latency_ms=3.0)),
        envelope(NotificationFailed(request_id=uuid4(), kind=NotificationKind.NEW_GROUP, group_id=group.group_id,
                                    channel="#c", error="connection_error:ClientConnectorError", attempts=5)),
        envelope(EscalationFired(group_id=group.group_id, group_key="k", channel="#c", level=1)),
        envelope(MessageDeadLettered(consumer="router", topic="groups.events", partition=0, offset=7,
                                     original_key="k", original_type=None, error="undecodable", payload="{")),
    ])
    assert sample("signalcraft_alerts_normalized_total", provider="grafana") == before["alerts"] + 2
    assert sample("signalcraft_groups_opened_total") == before["opened"] + 1
    assert sample("signalcraft_notifications_sent_total", kind="new_group") == before["sent"] + 1
    # An error text becomes a bounded label: its code, without the exception's class.
    assert sample("signalcraft_notifications_failed_total", error="connection_error") == before["failed"] + 1
    assert sample("signalcraft_escalations_fired_total") == before["fired"] + 1
    assert sample("signalcraft_dead_letters_total", group="router", topic="groups.events") == before["dead"] + 1


def test_rejection_reasons_are_the_exception_names_in_snake_case() -> None:
    assert metrics.reason_of(AuthenticationFailed("bad signature")) == "authentication_failed"
    assert metrics.reason_of(TimeoutError()) == "timeout_error"


class RefusingHandler:
    async def receive(self, *args: Any) -> Any:
        raise AuthenticationFailed("signature mismatch")

    def note_rejected(self, *args: Any) -> None:
        """Delivery health's count of refused webhooks: not what this test measures."""


async def test_ingest_counts_webhooks_received_and_rejected_per_provider_and_reason() -> None:
    app = FastAPI()
    app.include_router(webhook_router(lambda request: RefusingHandler(), 1024))  # type: ignore[arg-type,return-value]
    received = sample("signalcraft_webhooks_received_total", provider="sentry")
    refused = sample("signalcraft_webhooks_rejected_total", provider="sentry", reason="authentication_failed")
    unknown = sample("signalcraft_webhooks_rejected_total", provider="unknown", reason="unknown_integration")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        assert (await client.post("/webhooks/sentry/int-1", content=b"{}")).status_code == 401
        # A provider path nobody serves is counted under "unknown", not under its (unbounded) name.
        assert (await client.post("/webhooks/no-such-tool/int-1", content=b"{}")).status_code == 404
    assert sample("signalcraft_webhooks_received_total", provider="sentry") == received + 1
    assert sample("signalcraft_webhooks_rejected_total", provider="sentry", reason="authentication_failed") == refused + 1
    assert sample("signalcraft_webhooks_rejected_total", provider="unknown", reason="unknown_integration") == unknown + 1
    assert sample("signalcraft_webhooks_received_total", provider="no-such-tool") == 0


class SlackResponse(dict[str, Any]):
    status_code = 200


async def test_every_slack_attempt_lands_in_the_latency_histogram() -> None:
    client = SlackClient("xoxb-test", "http://slack.invalid/api/")

    async def chat_postMessage(**kwargs: Any) -> SlackResponse:  # noqa: N802 - the SDK's name
        return SlackResponse(ok=True, ts="1.1")

    async def chat_update(**kwargs: Any) -> SlackResponse:
        raise OSError("connection refused")

    before_ok = sample("signalcraft_slack_request_duration_seconds_count", method="chat.postMessage", outcome="ok")
    before_err = sample("signalcraft_slack_request_duration_seconds_count", method="chat.update",
                        outcome="connection_error")
    assert (await client._call(chat_postMessage, channel="#c")).ok
    assert not (await client._call(chat_update, channel="#c", ts="1.1")).ok
    assert sample("signalcraft_slack_request_duration_seconds_count", method="chat.postMessage",
                  outcome="ok") == before_ok + 1
    assert sample("signalcraft_slack_request_duration_seconds_count", method="chat.update",
                  outcome="connection_error") == before_err + 1


def record(topic: str, partition: int, offset: int, timestamp_ms: int = -1) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic, partition, offset, timestamp_ms, 0, b"k", b"v", None, 1, 1, ())


@dataclass
class FakeKafkaConsumer:
    """What lag measurement reads of an AIOKafkaConsumer."""

    ends: dict[TopicPartition, int]
    positions: dict[TopicPartition, int]
    assigned: set[TopicPartition] = field(default_factory=set)

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}


def test_a_batch_sets_the_lag_behind_it_and_counts_its_records() -> None:
    consumer = FakeKafkaConsumer(ends={TopicPartition("t.lag", 0): 100, TopicPartition("t.lag", 1): 10}, positions={})
    records_before = sample("signalcraft_consumer_records_total", group="g-batch")
    with metrics.observe_batch("g-batch", consumer, [record("t.lag", 0, 40), record("t.lag", 0, 41),
                                                     record("t.lag", 1, 9)]):
        pass
    assert sample("signalcraft_consumer_lag_records", group="g-batch", topic="t.lag", partition="0") == 58
    assert sample("signalcraft_consumer_lag_records", group="g-batch", topic="t.lag", partition="1") == 0
    assert sample("signalcraft_consumer_records_total", group="g-batch") == records_before + 3
    assert sample("signalcraft_consumer_batch_duration_seconds_count", group="g-batch") >= 1


def test_a_batch_observes_each_records_age_since_its_timestamp() -> None:
    def ages(le: str) -> float:
        return sample("signalcraft_consumer_record_age_seconds_bucket", group="g-age", le=le)

    now_ms = int(time.time() * 1000)
    sent_5s_ago, no_timestamp, from_a_clock_ahead = (record("t.age", 0, 1, now_ms - 5000), record("t.age", 0, 2, -1),
                                                     record("t.age", 0, 3, now_ms + 60_000))
    before_all, before_fast, before_10s = ages("+Inf"), ages("0.0025"), ages("10.0")
    with metrics.observe_batch("g-age", None, [sent_5s_ago, no_timestamp, from_a_clock_ahead]):
        pass
    assert ages("+Inf") == before_all + 2  # the record without a timestamp has no age
    assert ages("0.0025") == before_fast + 1  # a producer's clock ahead of ours: age 0, not negative
    assert ages("10.0") == before_10s + 2


async def test_lag_is_measured_from_the_broker_and_forgets_partitions_lost_in_a_rebalance() -> None:
    p0, p1 = TopicPartition("t.measure", 0), TopicPartition("t.measure", 1)
    consumer = FakeKafkaConsumer(ends={p0: 500, p1: 20}, positions={p0: 120, p1: 20}, assigned={p0, p1})
    known: dict[str, set[tuple[str, int]]] = {}
    await metrics.measure_lag("g-measure", consumer, known)
    assert sample("signalcraft_consumer_lag_records", group="g-measure", topic="t.measure", partition="0") == 380
    assert sample("signalcraft_consumer_lag_records", group="g-measure", topic="t.measure", partition="1") == 0
    consumer.assigned = {p0}
    await metrics.measure_lag("g-measure", consumer, known)
    assert REGISTRY.get_sample_value("signalcraft_consumer_lag_records",
                                     {"group": "g-measure", "topic": "t.measure", "partition": "1"}) is None


def test_the_outbox_backlog_gauges() -> None:
    metrics.set_outbox_backlog("unit", 12, 3.5)
    assert sample("signalcraft_outbox_rows", schema="unit") == 12
    assert sample("signalcraft_outbox_oldest_age_seconds", schema="unit") == 3.5


async def test_every_service_serves_metrics_in_the_prometheus_text_format() -> None:
    service = Service(name="metrics-test", settings=ServiceSettings(database_url="postgresql://127.0.0.1:1/none"),
                      tables=ServiceTables("t"), migrations=None)  # type: ignore[arg-type]
    metrics.GROUPS_OPENED.inc(0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service.app()), base_url="http://svc") as client:
        response = await client.get("/metrics")
    await service.engine.dispose()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {"signalcraft_groups_opened", "signalcraft_webhooks_received", "process_cpu_seconds"} <= families

