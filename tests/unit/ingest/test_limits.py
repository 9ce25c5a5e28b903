"""Abuse limits: the token bucket, its per-integration options, the per-process rate limiter with its
count of refusals, and the bound on webhooks in flight."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signalcraft_ingest.adapters.rate_limits import InFlightLimit, WebhookRateLimiter
from signalcraft_ingest.domain.errors import RateLimited, TryLater
from signalcraft_ingest.domain.limits import RateLimit, TokenBucket, rate_limit_of, replay_window_of, retry_after_seconds

from .helpers import RECEIVED_AT, make_integration


def test_a_bucket_lets_a_burst_through_then_one_per_interval() -> None:
    bucket = TokenBucket(RateLimit(per_second=2, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes back every half second
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0 and bucket.take(10.0) == 0.0 and bucket.take(10.0) == 0.0  # refilled to the burst only
    assert bucket.take(10.0) > 0


def test_a_rate_of_zero_is_no_limit() -> None:
    bucket = TokenBucket(RateLimit(per_second=0, burst=1), now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(1000))


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert (retry_after_seconds(0.01), retry_after_seconds(1.0), retry_after_seconds(1.2)) == (1, 1, 2)


def test_integration_options_override_the_defaults_and_bad_values_keep_them() -> None:
    default = RateLimit(per_second=10, burst=50)
    assert rate_limit_of({}, default) == default
    assert rate_limit_of({"rate_limit_per_second": "0.5", "rate_limit_burst": "5"}, default) == RateLimit(0.5, 5)
    assert rate_limit_of({"rate_limit_per_second": "fast", "rate_limit_burst": "-3"}, default) == default
    assert rate_limit_of({"rate_limit_burst": "0"}, default).burst == 1  # a burst below one would refuse all
    assert replay_window_of({}, 86_400) == 86_400
    assert replay_window_of({"replay_window_seconds": "60"}, 86_400) == 60
    assert replay_window_of({"replay_window_seconds": "nan"}, 86_400) == 86_400


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_refuses_over_the_limit_with_retry_after_and_counts_per_integration() -> None:
    clock = Clock()
    limiter = WebhookRateLimiter(RateLimit(per_second=1, burst=2), clock)
    noisy, quiet = make_integration("sentry"), make_integration("grafana", rate_limit_per_second="100")
    limiter.admit(noisy, RECEIVED_AT)
    limiter.admit(noisy, RECEIVED_AT)
    for seconds in range(3):
        with pytest.raises(RateLimited) as refused:
            limiter.admit(noisy, RECEIVED_AT + timedelta(seconds=seconds))
        assert refused.value.retry_after == 1 and "rate limit" in refused.value.reason
    limiter.admit(quiet, RECEIVED_AT)  # its own bucket, its own option
    clock.now += 1.0
    limiter.admit(noisy, RECEIVED_AT)  # a token came back
    [span] = limiter.throttled.take()
    assert (span.integration_id, span.workspace_id, span.count) == ("int-sentry", "ws-1", 3)
    assert (span.first_at, span.last_at) == (RECEIVED_AT, RECEIVED_AT + timedelta(seconds=2))
    assert limiter.throttled.take() == []  # counting starts afresh


def test_counts_a_report_could_not_store_are_reported_next_time() -> None:
    limiter = WebhookRateLimiter(RateLimit(per_second=1, burst=1), Clock())
    integration = make_integration("sentry")
    limiter.admit(integration, RECEIVED_AT)
    with pytest.raises(RateLimited):
        limiter.admit(integration, RECEIVED_AT)
    unreported = limiter.throttled.take()
    with pytest.raises(RateLimited):
        limiter.admit(integration, RECEIVED_AT + timedelta(seconds=5))
    limiter.throttled.restore(unreported)
    [span] = limiter.throttled.take()
    assert (span.count, span.first_at, span.last_at) == (2, RECEIVED_AT, RECEIVED_AT + timedelta(seconds=5))


def test_a_changed_limit_takes_effect_at_once() -> None:
    limiter = WebhookRateLimiter(RateLimit(per_second=1, burst=1), Clock())
    limiter.admit(make_integration("sentry"), RECEIVED_AT)
    with pytest.raises(RateLimited):
        limiter.admit(make_integration("sentry"), RECEIVED_AT)
    limiter.admit(make_integration("sentry", rate_limit_burst="10"), RECEIVED_AT)


def test_in_flight_requests_are_bounded_and_one_more_is_told_to_retry() -> None:
    bound = InFlightLimit(2)
    with bound.slot(), bound.slot():
        with pytest.raises(TryLater) as busy:
            with bound.slot():
                pass
        assert busy.value.retry_after >= 1 and "2 webhooks" in busy.value.reason
    assert bound.in_flight == 0
    with bound.slot():
        assert bound.in_flight == 1
