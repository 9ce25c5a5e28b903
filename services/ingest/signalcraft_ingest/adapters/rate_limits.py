"""Per-integration rate limits on webhooks, in this process's memory, and the count of what they
refused; and the bound on webhooks in flight in this process.

The buckets decide (domain/limits.py); this keeps one per integration on the monotonic clock. A
refused webhook is counted per integration; `handlers.report_throttled` takes the counts now and
then and emits them as webhooks.throttled events, which query-api adds to delivery health. With
several ingest replicas each has its own buckets: the limit is per replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from ..domain.errors import RateLimited, TryLater
from ..domain.limits import RateLimit, TokenBucket, rate_limit_of, retry_after_seconds
from ..domain.providers.base import Integration

# A webhook refused because this process is at its bound: the sender should come back soon.
BUSY_RETRY_AFTER_S = 1


@dataclass
class RefusedSpan:
    """Webhooks of one integration refused with one status (429 over its rate limit, 401 a bad
    signature, another 4xx), from `first_at` to `last_at`."""

    integration_id: str
    workspace_id: str
    status: int
    count: int
    first_at: datetime
    last_at: datetime


class RefusalTally:
    """Refused webhooks counted per integration and status until a report takes them."""

    def __init__(self) -> None:
        self._spans: dict[tuple[str, int], RefusedSpan] = {}

    def count(self, integration: Integration, status: int, at: datetime) -> None:
        span = self._spans.get((integration.integration_id, status))
        if span is None:
            self._spans[(integration.integration_id, status)] = RefusedSpan(
                integration.integration_id, integration.workspace_id, status, 1, at, at)
        else:
            span.count, span.last_at = span.count + 1, max(span.last_at, at)

    def take(self) -> list[RefusedSpan]:
        """What was refused since the last call; counting starts afresh."""
        spans, self._spans = list(self._spans.values()), {}
        return spans

    def restore(self, spans: list[RefusedSpan]) -> None:
        """Spans a report could not store: counted again in the next one."""
        for span in spans:
            current = self._spans.setdefault((span.integration_id, span.status), span)
            if current is not span:
                current.count += span.count
                current.first_at, current.last_at = min(current.first_at, span.first_at), max(current.last_at, span.last_at)


class WebhookRateLimiter:
    def __init__(self, default: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.default = default
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.throttled = RefusalTally()  # over the rate limit (429): webhooks.throttled
        self.rejected = RefusalTally()  # 401 and other 4xx of a known integration: webhooks.rejected

    def admit(self, integration: Integration, received_at: datetime) -> None:
        """Take a token from the integration's bucket, or raise RateLimited (429) with Retry-After."""
        limit = rate_limit_of(integration.options, self.default)
        bucket = self._buckets.get(integration.integration_id)
        if bucket is None or bucket.limit != limit:  # new, or its options changed
            bucket = self._buckets[integration.integration_id] = TokenBucket(limit, self._clock())
        wait = bucket.take(self._clock())
        if wait > 0:
            self.throttled.count(integration, 429, received_at)
            retry_after = retry_after_seconds(wait)
            raise RateLimited(f"over this integration's rate limit ({limit.per_second:g}/s, burst {limit.burst:g}); "
                              f"retry after {retry_after} s", retry_after)


class InFlightLimit:
    """At most `limit` webhooks in flight in this process; one more is told to retry (503), at once:
    waiting would only hold its connection and memory longer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise TryLater(f"ingest is handling {self.limit} webhooks already; retry", BUSY_RETRY_AFTER_S)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
