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
class ThrottledSpan:
    """Webhooks of one integration refused over its rate limit, from `first_at` to `last_at`."""

    integration_id: str
    workspace_id: str
    count: int
    first_at: datetime
    last_at: datetime


@dataclass
class RejectedSpan:
    """Webhooks of one known integration refused with one status (401, 4xx), from `first_at` to `last_at`."""

    integration_id: str
    workspace_id: str
    status: int
    count: int
    first_at: datetime
    last_at: datetime


class WebhookRateLimiter:
    def __init__(self, default: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.default = default
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._throttled: dict[str, ThrottledSpan] = {}
        self._rejected: dict[tuple[str, int], RejectedSpan] = {}

    def admit(self, integration: Integration, received_at: datetime) -> None:
        """Take a token from the integration's bucket, or raise RateLimited (429) with Retry-After."""
        limit = rate_limit_of(integration.options, self.default)
        bucket = self._buckets.get(integration.integration_id)
        if bucket is None or bucket.limit != limit:  # new, or its options changed
            bucket = self._buckets[integration.integration_id] = TokenBucket(limit, self._clock())
        wait = bucket.take(self._clock())
        if wait > 0:
            self._count(integration, received_at)
            retry_after = retry_after_seconds(wait)
            raise RateLimited(f"over this integration's rate limit ({limit.per_second:g}/s, burst {limit.burst:g}); "
                              f"retry after {retry_after} s", retry_after)

    def _count(self, integration: Integration, at: datetime) -> None:
        span = self._throttled.get(integration.integration_id)
        if span is None:
            self._throttled[integration.integration_id] = ThrottledSpan(
                integration.integration_id, integration.workspace_id, 1, at, at)
        else:
            span.count, span.last_at = span.count + 1, max(span.last_at, at)

    def take_throttled(self) -> list[ThrottledSpan]:
        """What was refused since the last call; counting starts afresh."""
        spans, self._throttled = list(self._throttled.values()), {}
        return spans

    def restore(self, spans: list[ThrottledSpan]) -> None:
        """Spans a report could not store: counted again in the next one."""
        for span in spans:
            current = self._throttled.get(span.integration_id)
            if current is None:
                self._throttled[span.integration_id] = span
            else:
                current.count += span.count
                current.first_at, current.last_at = min(current.first_at, span.first_at), max(current.last_at, span.last_at)

    def count_rejected(self, integration: Integration, status: int, at: datetime) -> None:
        """A webhook of this known integration refused with `status` (a bad signature's 401, a 4xx):
        reported with the throttled ones, as webhooks.rejected (delivery health counts them)."""
        key = (integration.integration_id, status)
        span = self._rejected.get(key)
        if span is None:
            self._rejected[key] = RejectedSpan(integration.integration_id, integration.workspace_id, status, 1, at, at)
        else:
            span.count, span.last_at = span.count + 1, max(span.last_at, at)

    def take_rejected(self) -> list[RejectedSpan]:
        spans, self._rejected = list(self._rejected.values()), {}
        return spans

    def restore_rejected(self, spans: list[RejectedSpan]) -> None:
        for span in spans:
            current = self._rejected.setdefault((span.integration_id, span.status), span)
            if current is not span:
                current.count += span.count
                current.first_at, current.last_at = min(current.first_at, span.first_at), max(current.last_at, span.last_at)


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
