"""Pacing Slack calls under its rate limits, per key (a channel, a workspace): token buckets.

Slack allows about one message per second per channel (short bursts tolerated) and Tier 3 methods
such as chat.update about 50 a minute per workspace. A bucket refills at `rate_per_s` up to `burst`.
`take` spends a token even when none is left, down to a bounded debt, so a first notification is
never held back but still slows the calls that may wait (thread replies); `delay` says how long a
call that can wait should: a thread reply goes (and `take`s) only when it is 0, and otherwise waits
in the reply lane, never in the consumer's batch; `wait_and_take` reserves the next slot for a
caller that sleeps until it. Pure: times are passed in (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass
class Pacer:
    rate_per_s: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("a pacer needs a positive rate and a burst of at least one call")

    def _tokens(self, key: str, now: float) -> float:
        """Below zero: calls already reserved ahead (debt), repaid at the rate."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - at) * self.rate_per_s)

    def delay(self, key: str, now: float) -> float:
        """Seconds until a call may go without exceeding the rate (0: now)."""
        tokens = self._tokens(key, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate_per_s

    def take(self, key: str, now: float) -> None:
        """Spend a token now, even into debt (no deeper than `burst` on its account): a call that must not wait."""
        tokens = self._tokens(key, now)
        self._buckets[key] = (min(tokens, max(-self.burst, tokens - 1)), now)

    def wait_and_take(self, key: str, now: float) -> float:
        """Reserve the next free slot for a call that can wait; returns how long it must."""
        wait = self.delay(key, now)
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        return wait


@dataclass(frozen=True)
class LanePacing:
    """The notifier's pace: leases on `sending` deliveries, posts per channel, rewrites per
    workspace (Tier 3) and per message."""

    lease: timedelta
    posts: Pacer  # per channel
    rewrites: Pacer  # per workspace
    rewrite_interval: timedelta  # per message
