import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.hop_split import hop_split, parse, quantile
from signalcraft_runtime.metrics import HOP_BUCKETS


def test_a_quantile_is_interpolated_within_its_bucket_as_promql_does() -> None:
    buckets = {0.01: 2.0, 0.02: 6.0, 0.05: 10.0, float("inf"): 10.0}
    assert quantile(0.5, buckets) == pytest.approx(0.0175)  # rank 5: 3 of the 4 observations of (0.01, 0.02]
    assert quantile(0.1, buckets) == pytest.approx(0.005)  # rank 1: half of the first bucket, from 0
    assert quantile(0.5, {0.01: 0.0, float("inf"): 4.0}) == 0.01  # all beyond the last bound: that bound
    assert quantile(0.5, {0.01: 0.0, float("inf"): 0.0}) is None


def test_each_hop_is_split_from_the_observations_between_two_scrapes() -> None:
    registry = CollectorRegistry()
    relay = Histogram("signalcraft_outbox_relay_delay_seconds", "", ["schema"], buckets=HOP_BUCKETS, registry=registry)
    age = Histogram("signalcraft_consumer_record_age_seconds", "", ["group"], buckets=HOP_BUCKETS, registry=registry)
    batch = Histogram("signalcraft_consumer_batch_duration_seconds", "", ["group"], registry=registry)
    relay.labels("ingest").observe(5.0)  # before the window: not in its medians
    age.labels("grouping").observe(5.0)
    before = parse([generate_latest(registry).decode()])

    for _ in range(3):
        relay.labels("ingest").observe(0.012)  # (0.01, 0.015]
        age.labels("grouping").observe(0.035)  # (0.03, 0.04]
        batch.labels("grouping").observe(0.004)  # (0, 0.005]
    relay.labels("grouping").observe(0.018)
    after = parse([generate_latest(registry).decode()])

    split = hop_split(before, after)
    assert split["ingest -> grouping"] == {"relay_p50_ms": 12.5, "broker_p50_ms": 35.0, "batch_p50_ms": 2.5}
    assert split["grouping -> router"] == {"relay_p50_ms": 17.5, "broker_p50_ms": None, "batch_p50_ms": None}
    assert split["router -> notifier"] == {"relay_p50_ms": None, "broker_p50_ms": None, "batch_p50_ms": None}
