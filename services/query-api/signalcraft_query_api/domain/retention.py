"""How long each kind of read-model row is kept (issue 11.6), and the cut-off each period gives now;
and which consumer group a generation of the rebuilt read models is projected in.

A period is a duration ("30d", "12h", "P90D", seconds) or "off"/"0" to keep that kind for ever.
Rows older than `now - period` go; the cleanup loop in main.py deletes them in small batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from signalcraft_schemas.durations import parse_duration

# Kinds of rows, each with the column its age is read from (repository/retention.py).
KINDS = ("alerts", "timelines", "notifications", "dead_letters")
KEEP_FOREVER = ("", "0", "off", "none", "forever")


def retention_period(value: str) -> timedelta | None:
    """The period `value` names; None: kept for ever. InvalidDuration for text that is neither."""
    if value.strip().lower() in KEEP_FOREVER:
        return None
    return parse_duration(value, bare_unit="seconds")


@dataclass(frozen=True)
class RetentionPolicy:
    alerts: timedelta | None = timedelta(days=90)
    timelines: timedelta | None = timedelta(days=90)
    notifications: timedelta | None = timedelta(days=90)
    dead_letters: timedelta | None = timedelta(days=30)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per kind with a period: the instant before which its rows are deleted."""
        return {kind: now - period for kind in KINDS if (period := getattr(self, kind)) is not None}


# The projection consumer's group. A rebuild starts a new generation, consumed in a new group (which
# has no offsets, so it reads every topic from offset 0); generation 0 keeps the original name.
PROJECTION_GROUP = "query-api"


def projection_group(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}-rebuild-{generation}"
