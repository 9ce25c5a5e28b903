"""How long raw deliveries (the webhooks as received) are kept (issue 11.6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from signalcraft_schemas.durations import parse_duration

KEEP_FOREVER = ("", "0", "off", "none", "forever")


def retention_period(value: str) -> timedelta | None:
    """The period `value` names ("30d", "12h", "P30D", seconds); None for "off"/"0": kept for ever."""
    if value.strip().lower() in KEEP_FOREVER:
        return None
    return parse_duration(value, bare_unit="seconds")


def cutoff(now: datetime, period: timedelta | None) -> datetime | None:
    """Deliveries received before this go; None: none go."""
    return now - period if period is not None else None
