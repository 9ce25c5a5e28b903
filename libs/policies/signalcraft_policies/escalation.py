"""Escalation policy arithmetic: which step of a policy comes next, and when.

A policy is ordered levels, each "after N seconds without an ack, notify these targets", then an
optional repeat of the last level every M seconds up to K times. Unrolled, that is a list of steps:
level 1 … level n, then level n again K times (repeat 1 … K). Step 0's deadline is the group's first
notification + level 1's `after`; each later step's deadline is the previous step's deadline + its
own delay, so a late timer does not push the levels after it later still.

A target is a channel (`#name` or a channel id `C…`/`G…`), a user (`<@U…>`), a user group
(`<!subteam^S…>`) or `schedule:<id>`: whoever is on call there when the step fires.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from signalcraft_schemas.events import EscalationLevel, EscalationRepeat

# Long enough for any real policy, small enough that a typo cannot ask for a million notices.
MAX_LEVELS = 20
MAX_REPEATS = 100
MAX_DELAY_SECONDS = 7 * 24 * 3600


class TargetKind(StrEnum):
    CHANNEL = "channel"
    USER = "user"
    USER_GROUP = "user_group"
    SCHEDULE = "schedule"


_TARGETS = (
    (TargetKind.CHANNEL, re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,20}")),
    (TargetKind.USER, re.compile(r"<@[UW][A-Z0-9]{2,20}>")),
    (TargetKind.USER_GROUP, re.compile(r"<!subteam\^S[A-Z0-9]{2,20}>")),
    (TargetKind.SCHEDULE, re.compile(r"schedule:[A-Za-z0-9][A-Za-z0-9_-]{0,80}")),
)


class InvalidPolicy(ValueError):
    """A policy that cannot be applied as written (the API answers 422 with this message)."""


def target_kind(target: str) -> TargetKind:
    for kind, pattern in _TARGETS:
        if pattern.fullmatch(target):
            return kind
    raise InvalidPolicy(f"target {target!r} is none of: a channel (#name or C…), a user <@U…>, "
                        "a user group <!subteam^S…>, schedule:<id>")


def schedule_id(target: str) -> str | None:
    return target.removeprefix("schedule:") if target_kind(target) == TargetKind.SCHEDULE else None


def check_policy(levels: Sequence[EscalationLevel], repeat: EscalationRepeat | None,
                 known_schedule: Callable[[str], bool] = lambda _: True) -> None:
    """Raises InvalidPolicy when a level, target or the repeat cannot be applied."""
    if not levels:
        raise InvalidPolicy("a policy needs at least one level")
    if len(levels) > MAX_LEVELS:
        raise InvalidPolicy(f"at most {MAX_LEVELS} levels")
    for number, level in enumerate(levels, 1):
        if level.after_seconds > MAX_DELAY_SECONDS:
            raise InvalidPolicy(f"level {number}: after is at most {MAX_DELAY_SECONDS} s (7 days)")
        for target in level.targets:
            sid = schedule_id(target)
            if sid is not None and not known_schedule(sid):
                raise InvalidPolicy(f"level {number}: no schedule {sid!r} in this workspace")
    if repeat is not None and (repeat.times > MAX_REPEATS or repeat.every_seconds > MAX_DELAY_SECONDS):
        raise InvalidPolicy(f"repeat: at most {MAX_REPEATS} times, every at most {MAX_DELAY_SECONDS} s")


@dataclass(frozen=True)
class Step:
    """One notice of a policy: level `level` (1-based), `repeat` 0 for the level itself, n for its
    n-th repeat; `delay` from the previous step's deadline (from the first notification for step 0)."""

    index: int
    level: int
    repeat: int
    delay: timedelta
    targets: tuple[str, ...]


def step_count(levels: Sequence[EscalationLevel], repeat: EscalationRepeat | None) -> int:
    return len(levels) + (repeat.times if repeat else 0)


def step(levels: Sequence[EscalationLevel], repeat: EscalationRepeat | None, index: int) -> Step | None:
    """The policy's step `index` (0-based), None past the last one."""
    if index < 0 or index >= step_count(levels, repeat):
        return None
    if index < len(levels):
        level = levels[index]
        return Step(index, index + 1, 0, timedelta(seconds=level.after_seconds), tuple(level.targets))
    assert repeat is not None
    last = levels[-1]
    return Step(index, len(levels), index - len(levels) + 1, timedelta(seconds=repeat.every_seconds),
                tuple(last.targets))


def first_deadline(levels: Sequence[EscalationLevel], since: datetime) -> datetime:
    """When step 0 fires: `since` (the first notification, or the reopen that re-arms) + level 1's after."""
    return since + timedelta(seconds=levels[0].after_seconds)


def next_after(levels: Sequence[EscalationLevel], repeat: EscalationRepeat | None, fired: int,
               fired_deadline: datetime) -> tuple[Step, datetime] | None:
    """The step after step `fired` (whose deadline was `fired_deadline`) and its deadline; None: done."""
    following = step(levels, repeat, fired + 1)
    if following is None:
        return None
    return following, fired_deadline + following.delay


def schedule(levels: Sequence[EscalationLevel], repeat: EscalationRepeat | None,
             since: datetime) -> list[tuple[Step, datetime]]:
    """Every step with its deadline, as nobody acknowledging would see them."""
    steps: list[tuple[Step, datetime]] = []
    deadline = since
    for index in range(step_count(levels, repeat)):
        current = step(levels, repeat, index)
        assert current is not None
        deadline += current.delay
        steps.append((current, deadline))
    return steps


def one_level(after: timedelta, channel: str) -> list[EscalationLevel]:
    """A rule's legacy `escalate_after`: one level, its own channel, after that long."""
    return [EscalationLevel(after_seconds=max(1, int(after.total_seconds())), targets=[channel])]
