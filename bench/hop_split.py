"""Each broker hop of webhook -> Slack, split from the services' own histograms (their /metrics),
scraped before and after an open-loop phase:

- relay: the upstream service's outbox row, from its transaction to the relay's send
  (`signalcraft_outbox_relay_delay_seconds`, by schema);
- broker: from that send (the record's timestamp) to its batch reaching the next consumer's handler:
  the producer's linger, the produce, the fetch (`signalcraft_consumer_record_age_seconds`, by group);
- batch: the next consumer's batch, start to end (`signalcraft_consumer_batch_duration_seconds`; its
  buckets are coarser).

Medians over every record of the phase (not only the new groups' records that the bench's hop table
follows), interpolated within buckets as PromQL's histogram_quantile does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

# (upstream relay's schema, next consumer group) per hop of webhook -> Slack
ALERT_PATH = (("ingest", "grouping"), ("grouping", "router"), ("router", "notifier"))
SERVICES = ("ingest", "grouping", "router", "notifier")
SERIES = {  # histogram -> the label that names its series
    "signalcraft_outbox_relay_delay_seconds": "schema",
    "signalcraft_consumer_record_age_seconds": "group",
    "signalcraft_consumer_batch_duration_seconds": "group",
}

Buckets = dict[float, float]  # upper bound -> cumulative count
Histograms = dict[tuple[str, str], Buckets]  # (histogram, series) -> buckets


def parse(texts: Iterable[str]) -> Histograms:
    """The buckets of the histograms above from Prometheus text expositions."""
    found: Histograms = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            label = SERIES.get(family.name)
            if label is None:
                continue
            for sample in family.samples:
                if sample.name == f"{family.name}_bucket":
                    found.setdefault((family.name, sample.labels[label]), {})[float(sample.labels["le"])] = sample.value
    return found


def scrape(urls: Mapping[str, str]) -> Histograms:
    """/metrics of each service of the alert path (`urls`: service -> base URL)."""
    with httpx.Client(timeout=10) as client:
        return parse(client.get(f"{urls[name]}/metrics").text for name in SERVICES)


def quantile(q: float, buckets: Buckets) -> float | None:
    """histogram_quantile: the bucket holding rank q, linearly within it; None without observations."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bound: that bound, as Prometheus answers
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return lower


def delta(before: Histograms, after: Histograms) -> Histograms:
    return {key: {le: count - before.get(key, {}).get(le, 0.0) for le, count in buckets.items()}
            for key, buckets in after.items()}


def hop_split(before: Histograms, after: Histograms) -> dict[str, dict[str, float | None]]:
    """Per hop (`ingest -> grouping`...): the medians in ms of its relay, its broker delivery and the
    next consumer's batch over the window between the two scrapes."""
    window = delta(before, after)

    def median_ms(histogram: str, series: str) -> float | None:
        value = quantile(0.5, window.get((histogram, series), {}))
        return None if value is None else round(value * 1000, 1)

    return {f"{schema} -> {group}": {
        "relay_p50_ms": median_ms("signalcraft_outbox_relay_delay_seconds", schema),
        "broker_p50_ms": median_ms("signalcraft_consumer_record_age_seconds", group),
        "batch_p50_ms": median_ms("signalcraft_consumer_batch_duration_seconds", group),
    } for schema, group in ALERT_PATH}
