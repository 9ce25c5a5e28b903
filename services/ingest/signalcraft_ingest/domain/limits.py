"""Abuse limits, as pure decisions: a token bucket per integration (webhooks per second with a
burst), and the per-integration options that override the service-wide defaults.

Time is passed in (monotonic seconds), so the bucket is tested without a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """`per_second` webhooks on average, up to `burst` at once; `per_second` 0: no limit."""

    per_second: float
    burst: float


class TokenBucket:
    """Starts full; each webhook takes one token; tokens come back at `per_second` up to `burst`."""

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self._tokens = limit.burst
        self._at = now

    def take(self, now: float) -> float:
        """0.0 when the webhook may pass (a token is taken), else the seconds until one is back."""
        if self.limit.per_second <= 0:
            return 0.0
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.limit.per_second

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.per_second)
        self._at = now


def retry_after_seconds(wait: float) -> int:
    """A Retry-After header's whole seconds: at least 1."""
    return max(1, math.ceil(wait))


def _number(options: Mapping[str, str], name: str, default: float) -> float:
    """The option as a non-negative number, else the default: the config API refuses bad values, and
    an alert is never refused for a limit's typo."""
    try:
        value = float(options.get(name, ""))
    except ValueError:
        return default
    return value if math.isfinite(value) and value >= 0 else default


def rate_limit_of(options: Mapping[str, str], default: RateLimit) -> RateLimit:
    """The integration's `rate_limit_per_second` and `rate_limit_burst` options, else the defaults.
    A burst below one would refuse everything: at least one."""
    per_second = _number(options, "rate_limit_per_second", default.per_second)
    return RateLimit(per_second, max(1.0, _number(options, "rate_limit_burst", default.burst)))


def replay_window_of(options: Mapping[str, str], default_seconds: int) -> int:
    """The integration's `replay_window_seconds` option, else the service's default; 0 turns the
    replay check off for that integration."""
    return int(_number(options, "replay_window_seconds", default_seconds))
