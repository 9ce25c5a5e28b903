"""Prometheus metrics: every metric a SignalCraft process exposes on /metrics, defined here.

One registry per process (prometheus-client's default, which also carries the process_* and
python_* collectors). docs/operate.md describes each metric and the alerts built on them.

Counters of what a service decided (alerts normalized, groups opened, notifications sent, dead
letters...) count events when their transaction commits (`count_committed`): a batch that is
rolled back and retried counts once, and no service code has to remember to count. What never
becomes an event is counted where it happens: webhooks received and rejected (ingest's HTTP
adapter), Slack calls (the notifier's Slack adapter), consumer lag and the outbox backlog (here,
measured from the consumers and the outbox table).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, generate_latest,
)

from signalcraft_schemas import Envelope

from .logs import get_logger

log = get_logger(__name__)

# No *_created series: Prometheus has no use for them, and they would double what a scrape carries.
disable_created_metrics()

# --- ingest ------------------------------------------------------------------------------------

WEBHOOKS_RECEIVED = Counter(
    "signalcraft_webhooks_received_total", "Webhook requests received, per provider ('unknown': a provider path "
    "SignalCraft does not serve)", ["provider"])
WEBHOOKS_REJECTED = Counter(
    "signalcraft_webhooks_rejected_total", "Webhook requests answered with an error, per provider and reason",
    ["provider", "reason"])
ALERTS_NORMALIZED = Counter(
    "signalcraft_alerts_normalized_total", "Alerts stored as alerts.normalized events, per provider", ["provider"])

# --- grouping ----------------------------------------------------------------------------------

GROUPS_OPENED = Counter("signalcraft_groups_opened_total", "Alert groups opened")
GROUPS_REOPENED = Counter("signalcraft_groups_reopened_total", "Resolved alert groups that fired again")
GROUPS_RESOLVED = Counter("signalcraft_groups_resolved_total", "Alert groups resolved (by the provider, a person or quiet)")

# --- notifier ----------------------------------------------------------------------------------

NOTIFICATIONS_SENT = Counter(
    "signalcraft_notifications_sent_total", "Notifications delivered to Slack, per kind", ["kind"])
NOTIFICATIONS_FAILED = Counter(
    "signalcraft_notifications_failed_total", "Notifications that will not be delivered, per error "
    "(Slack's error code, no_route, no_slack, connection_error...)", ["error"])
SLACK_REQUEST_SECONDS = Histogram(
    "signalcraft_slack_request_duration_seconds", "Slack Web API calls (every attempt), per method and outcome "
    "('ok' or the error)", ["method", "outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))

# --- escalator ---------------------------------------------------------------------------------

ESCALATIONS_FIRED = Counter("signalcraft_escalations_fired_total", "Escalations fired (an unacknowledged group re-announced)")

# --- runtime: every service --------------------------------------------------------------------

DEAD_LETTERS = Counter(
    "signalcraft_dead_letters_total", "Messages sent to the dead-letter topic, per consumer group and the topic "
    "they came from", ["group", "topic"])
CONSUMER_LAG = Gauge(
    "signalcraft_consumer_lag_records", "Records in a partition not yet handed to the consumer (highwater - position)",
    ["group", "topic", "partition"])
CONSUMER_RECORDS = Counter(
    "signalcraft_consumer_records_total", "Records polled by a consumer group and processed (or skipped as repeats)",
    ["group"])
# Fine below 100 ms: webhook -> Slack is three broker hops of tens of milliseconds each, and these two
# histograms split each hop into its relay (commit -> send) and the broker (send -> next handler).
HOP_BUCKETS = (0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
               1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONSUMER_RECORD_AGE = Histogram(
    "signalcraft_consumer_record_age_seconds", "From a record's timestamp (its producer's send) to its batch "
    "reaching the consumer's handler: the broker's hop, plus any backlog", ["group"], buckets=HOP_BUCKETS)
CONSUMER_BATCH_SECONDS = Histogram(
    "signalcraft_consumer_batch_duration_seconds", "Time to process one polled batch, retries included", ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
OUTBOX_ROWS = Gauge(
    "signalcraft_outbox_rows", "Outbox rows not yet published, per service schema (0 on a standby relay)", ["schema"])
OUTBOX_OLDEST_AGE = Gauge(
    "signalcraft_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row, per service schema "
    "(0 when empty or on a standby relay)", ["schema"])
OUTBOX_RELAY_DELAY = Histogram(
    "signalcraft_outbox_relay_delay_seconds", "From an outbox row's transaction to the relay handing it to the "
    "Kafka producer, per service schema: the relay's share of a hop", ["schema"], buckets=HOP_BUCKETS)
OUTBOX_PUBLISHED = Counter(
    "signalcraft_outbox_published_total", "Outbox rows published to Kafka and deleted, per service schema", ["schema"])


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# --- counting committed events ----------------------------------------------------------------

def _error_code(error: str) -> str:
    """A bounded label from an error text: 'connection_error:ClientConnectorError' -> 'connection_error'."""
    code = re.split(r"[:\s]", error.strip(), maxsplit=1)[0]
    return code[:64] or "unknown"


def count_committed(envelopes: Iterable[Envelope[Any]]) -> None:
    """Count the events of a committed transaction that a metric is about."""
    for envelope in envelopes:
        counter = _COUNTED.get(envelope.type)
        if counter is not None:
            counter(envelope.data)


_COUNTED: dict[str, Any] = {
    "alert.normalized": lambda d: ALERTS_NORMALIZED.labels(d.alert.source).inc(),
    "group.opened": lambda d: GROUPS_OPENED.inc(),
    "group.reopened": lambda d: GROUPS_REOPENED.inc(),
    "group.resolved": lambda d: GROUPS_RESOLVED.inc(),
    "notification.delivered": lambda d: NOTIFICATIONS_SENT.labels(str(d.kind)).inc(),
    "notification.failed": lambda d: NOTIFICATIONS_FAILED.labels(_error_code(d.error)).inc(),
    "escalation.fired": lambda d: ESCALATIONS_FIRED.inc(),
    "message.deadlettered": lambda d: DEAD_LETTERS.labels(d.consumer, d.topic).inc(),
}


# --- ingest and Slack helpers ------------------------------------------------------------------

def reason_of(exc: BaseException) -> str:
    """A rejection's reason label from its exception class: AuthenticationFailed -> authentication_failed."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def observe_slack_call(method: str, ok: bool, error: str | None, latency_ms: float) -> None:
    """One Slack Web API attempt (`method`: chat.postMessage, chat.update)."""
    outcome = "ok" if ok else _error_code(error or "unknown")
    SLACK_REQUEST_SECONDS.labels(method, outcome).observe(latency_ms / 1000)


# --- consumers ---------------------------------------------------------------------------------

class KafkaConsumerLike(Protocol):
    """What lag measurement needs of aiokafka's AIOKafkaConsumer."""

    def assignment(self) -> Any: ...

    def highwater(self, partition: Any) -> int | None: ...

    async def position(self, partition: Any) -> int: ...

    async def end_offsets(self, partitions: Any) -> dict[Any, int]: ...


class SubscriberLike(Protocol):
    group_id: str | None
    consumer: KafkaConsumerLike | None


def _set_lag(group: str, topic: str, partition: int, lag: int) -> None:
    CONSUMER_LAG.labels(group, topic, str(partition)).set(max(lag, 0))


@contextmanager
def observe_batch(group: str, consumer: Any, records: Sequence[Any]) -> Iterator[None]:
    """Around one polled batch: the lag behind it (from the highwater its fetch reported), its
    records' age, its records and how long it took."""
    last: dict[tuple[str, int], int] = {}
    now_ms, ages = time.time() * 1000, CONSUMER_RECORD_AGE.labels(group)
    for record in records:
        key = (record.topic, record.partition)
        last[key] = max(last.get(key, -1), record.offset)
        if record.timestamp > 0:  # -1: a record without a timestamp
            ages.observe(max(now_ms - record.timestamp, 0.0) / 1000)  # clocks of two hosts may disagree
    highwater = getattr(consumer, "highwater", None)
    if highwater is not None:
        from aiokafka import TopicPartition

        for (topic, partition), offset in last.items():
            mark = highwater(TopicPartition(topic, partition))
            if mark is not None:
                _set_lag(group, topic, partition, mark - (offset + 1))
    started = time.perf_counter()
    try:
        yield
    finally:
        CONSUMER_BATCH_SECONDS.labels(group).observe(time.perf_counter() - started)
    CONSUMER_RECORDS.labels(group).inc(len(records))


async def measure_lag(group: str, consumer: KafkaConsumerLike, known: dict[str, set[tuple[str, int]]]) -> None:
    """Lag of every partition assigned to `consumer`: the broker's end offset - the consumer's position.

    Asks the broker rather than the last fetch, so a consumer stuck on a batch (no fetching) still
    shows the lag growing. Partitions no longer assigned (a rebalance) lose their series.
    """
    assigned = list(consumer.assignment())
    ends = await consumer.end_offsets(assigned) if assigned else {}
    now = set()
    for tp in assigned:
        if tp in ends:
            _set_lag(group, tp.topic, tp.partition, ends[tp] - await consumer.position(tp))
            now.add((tp.topic, tp.partition))
    for topic, partition in known.get(group, set()) - now:
        CONSUMER_LAG.remove(group, topic, str(partition))
    known[group] = now


async def track_consumer_lag(subscribers: Any, every_s: float = 15.0) -> None:
    """Measure every started subscriber's lag every `every_s`, for as long as the service runs.

    Never raises: a failed measurement (a rebalance under way, the broker away) is tried next time.
    """
    known: dict[str, set[tuple[str, int]]] = {}
    while True:
        for subscriber in list(subscribers):
            consumer, group = getattr(subscriber, "consumer", None), getattr(subscriber, "group_id", None)
            if consumer is None or not group:
                continue
            try:
                await measure_lag(group, consumer, known)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("consumer lag not measured", group=group, error=repr(exc))
        await asyncio.sleep(every_s)


# --- the outbox --------------------------------------------------------------------------------

def observe_relayed(schema: str, created_epochs: Sequence[float]) -> None:
    """Rows just handed to the producer, by when their transactions began (PostgreSQL's clock). What
    follows, the produce itself, is in the next consumer's record age: its timestamp is the send."""
    now, delays = time.time(), OUTBOX_RELAY_DELAY.labels(schema)
    for created in created_epochs:
        delays.observe(max(now - created, 0.0))


def set_outbox_backlog(schema: str, rows: int, oldest_age_s: float) -> None:
    OUTBOX_ROWS.labels(schema).set(rows)
    OUTBOX_OLDEST_AGE.labels(schema).set(max(oldest_age_s, 0.0))
