"""On-call rotation arithmetic: who is on call at an instant, since when, until when; the next handoffs.

A schedule's users take turns in order. Handoffs are wall-clock times in the schedule's zone: shift n
starts at (start_date handoff_time) + n × shift length, computed on the local clock and only then
turned into an instant, so a daily 09:00 handoff stays 09:00 local across DST changes (that day's shift
is 23 or 25 hours long). A local time the spring change skips is read with the offset before it
(02:30 on the Berlin spring day is 03:30 CEST); one the autumn change repeats is its first occurrence.

Overrides put a user on call from `start` to `end` instead of the rotation; where overrides overlap,
the later one in the list wins. Before the first shift, nobody is on call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from signalcraft_schemas.events import ScheduleOverride, ScheduleSaved

USER = re.compile(r"<@[UW][A-Z0-9]{2,20}>")
MAX_USERS = 100
MAX_SHIFT = timedelta(days=366)
JUST_BEFORE = timedelta(microseconds=1)


class InvalidSchedule(ValueError):
    """A schedule that cannot be applied as written (the API answers 422 with this message)."""


@dataclass(frozen=True)
class OnCall:
    """`user` is on call from `since` to `until` (None: nobody; `since`/`until` None: unbounded)."""

    user: str | None
    since: datetime | None
    until: datetime | None
    override: bool = False


def zone(schedule: ScheduleSaved) -> ZoneInfo:
    try:
        return ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(f"unknown time zone {schedule.time_zone!r} (an IANA name, e.g. Europe/Berlin)") from exc


def check_schedule(schedule: ScheduleSaved) -> None:
    """Raises InvalidSchedule for a zone, user, length or override that cannot be applied."""
    zone(schedule)
    if len(schedule.users) > MAX_USERS:
        raise InvalidSchedule(f"at most {MAX_USERS} users in a rotation")
    for user in [*schedule.users, *(o.user for o in schedule.overrides)]:
        if not USER.fullmatch(user):
            raise InvalidSchedule(f"user {user!r} is not a Slack user mention <@U…>")
    if timedelta(seconds=schedule.shift_seconds) > MAX_SHIFT:
        raise InvalidSchedule("a shift is at most 366 days")
    for override in schedule.overrides:
        if override.end <= override.start:
            raise InvalidSchedule(f"override for {override.user}: end must be after start")


def _local_start(schedule: ScheduleSaved) -> datetime:
    return datetime.combine(schedule.start_date, schedule.handoff_time)  # naive: the local wall clock


def handoff(schedule: ScheduleSaved, n: int) -> datetime:
    """The instant (UTC) shift n starts: local start + n shifts on the wall clock, then localized."""
    local = _local_start(schedule) + n * timedelta(seconds=schedule.shift_seconds)
    return local.replace(tzinfo=zone(schedule)).astimezone(UTC)


def shift_at(schedule: ScheduleSaved, at: datetime) -> int | None:
    """The number of the rotation shift running at `at`; None before the first."""
    if at < handoff(schedule, 0):
        return None
    local = at.astimezone(zone(schedule)).replace(tzinfo=None)
    n = max(0, int((local - _local_start(schedule)) // timedelta(seconds=schedule.shift_seconds)))
    # The wall-clock estimate can be one off around a DST change: settle on the instants themselves.
    while n > 0 and handoff(schedule, n) > at:
        n -= 1
    while handoff(schedule, n + 1) <= at:
        n += 1
    return n


def _override_at(schedule: ScheduleSaved, at: datetime) -> ScheduleOverride | None:
    for override in reversed(schedule.overrides):  # the later listed wins
        if override.start <= at < override.end:
            return override
    return None


def on_call(schedule: ScheduleSaved, at: datetime) -> OnCall:
    """Who is on call at `at`, and the interval during which that stays so."""
    override = _override_at(schedule, at)
    if override is not None:
        since, until = override.start, override.end
        user, is_override = override.user, True
    else:
        n = shift_at(schedule, at)
        if n is None:
            since, until, user, is_override = None, handoff(schedule, 0), None, False
        else:
            since, until = handoff(schedule, n), handoff(schedule, n + 1)
            user, is_override = schedule.users[n % len(schedule.users)], False
    # Clip to the nearest override edges around `at` where the person on call changes.
    for other in schedule.overrides:
        for edge in (other.start, other.end):
            if (since is None or since < edge) and edge <= at and _differs(schedule, edge - JUST_BEFORE, user):
                since = edge
            if at < edge and (until is None or edge < until) and _differs(schedule, edge, user):
                until = edge
    return OnCall(user, since, until, is_override)


def _differs(schedule: ScheduleSaved, at: datetime, user: str | None) -> bool:
    override = _override_at(schedule, at)
    if override is not None:
        return override.user != user
    n = shift_at(schedule, at)
    return (schedule.users[n % len(schedule.users)] if n is not None else None) != user


@dataclass(frozen=True)
class Handoff:
    at: datetime
    user: str | None
    override: bool


def next_handoffs(schedule: ScheduleSaved, after: datetime, count: int) -> list[Handoff]:
    """The next `count` times the person on call changes after `after`, with who takes over."""
    handoffs: list[Handoff] = []
    current = on_call(schedule, after)
    # A rotation of one user with no override never hands off: bound the walk.
    for _ in range(count * (len(schedule.users) + 2 * len(schedule.overrides) + 2)):
        if len(handoffs) >= count or current.until is None:
            break
        at, previous_user = current.until, current.user
        current = on_call(schedule, at)
        if current.user != previous_user:
            handoffs.append(Handoff(at, current.user, current.override))
    return handoffs
