"""Escalation policies and on-call schedules as configuration (issue 10.1, 10.2): what each admin
command becomes as a config event (keys `escalation_policy:<id>`, `schedule:<id>`), and what is refused.

A policy may name only schedules of its workspace; a schedule a policy names, and a policy a rule or
the workspace's default route names, cannot be deleted (409) until nothing names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from signalcraft_policies.escalation import InvalidPolicy, check_policy, schedule_id
from signalcraft_policies.oncall import InvalidSchedule, OnCall, check_schedule, next_handoffs, on_call, zone
from signalcraft_schemas.events import (
    EscalationLevel, EscalationPolicyDeleted, EscalationPolicySaved, EscalationRepeat, ScheduleDeleted,
    ScheduleOverride, ScheduleSaved,
)

from .config import ConfigChange

__all__ = ["InvalidPolicy", "InvalidSchedule"]
MIN_SHIFT_SECONDS = 60


class UnknownPolicy(LookupError):
    pass


class UnknownSchedule(LookupError):
    pass


class StillNamed(ValueError):
    """Deleting what a rule, a workspace or a policy still names (409)."""


class InAnotherWorkspace(ValueError):
    """An id that belongs to another workspace (409): policies and schedules never move."""


@dataclass(frozen=True)
class PolicyDefinition:
    workspace_id: str
    name: str
    levels: list[EscalationLevel]
    repeat: EscalationRepeat | None = None


@dataclass(frozen=True)
class ScheduleDefinition:
    workspace_id: str
    name: str
    users: list[str]
    time_zone: str
    start_date: date
    handoff_time: time
    shift_seconds: int
    overrides: list[ScheduleOverride] = field(default_factory=list)


def policy_saved(policy_id: str, policy: PolicyDefinition, schedule_ids: set[str]) -> ConfigChange[EscalationPolicySaved]:
    """The policy as an event; InvalidPolicy when a target or number cannot be applied, or a schedule
    target is not one of the workspace's `schedule_ids`."""
    check_policy(policy.levels, policy.repeat, known_schedule=lambda sid: sid in schedule_ids)
    event = EscalationPolicySaved(policy_id=policy_id, workspace_id=policy.workspace_id, name=policy.name,
                                  levels=policy.levels, repeat=policy.repeat)
    return ConfigChange(event, policy.workspace_id, f"escalation_policy:{policy_id}")


def policy_deleted(policy_id: str, workspace_id: str, named_by: list[str]) -> ConfigChange[EscalationPolicyDeleted]:
    if named_by:
        raise StillNamed(f"policy {policy_id!r} is still named by {', '.join(sorted(named_by))}")
    return ConfigChange(EscalationPolicyDeleted(policy_id=policy_id, workspace_id=workspace_id), workspace_id,
                        f"escalation_policy:{policy_id}")


def schedule_saved(schedule_id_: str, schedule: ScheduleDefinition) -> ConfigChange[ScheduleSaved]:
    if schedule.shift_seconds < MIN_SHIFT_SECONDS:
        raise InvalidSchedule(f"a shift is at least {MIN_SHIFT_SECONDS} s")
    event = ScheduleSaved(schedule_id=schedule_id_, workspace_id=schedule.workspace_id, name=schedule.name,
                          users=schedule.users, time_zone=schedule.time_zone, start_date=schedule.start_date,
                          handoff_time=schedule.handoff_time, shift_seconds=schedule.shift_seconds,
                          overrides=schedule.overrides)
    check_schedule(event)
    return ConfigChange(event, schedule.workspace_id, f"schedule:{schedule_id_}")


def schedule_deleted(schedule_id_: str, workspace_id: str, named_by: list[str]) -> ConfigChange[ScheduleDeleted]:
    if named_by:
        raise StillNamed(f"schedule {schedule_id_!r} is still a target of {', '.join(sorted(named_by))}")
    return ConfigChange(ScheduleDeleted(schedule_id=schedule_id_, workspace_id=workspace_id), workspace_id,
                        f"schedule:{schedule_id_}")


def policies_naming_schedule(policies: list[dict[str, Any]], schedule_id_: str) -> list[str]:
    """The policies (stored definitions) with a level targeting this schedule."""
    return [f"policy {p['policy_id']}" for p in policies
            if any(schedule_id(t) == schedule_id_ for level in p["levels"] for t in level["targets"]
                   if t.startswith("schedule:"))]


def on_call_answer(stored: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Who is on call in the stored schedule at `at`, since and until when."""
    schedule = ScheduleSaved.model_validate(stored)
    current: OnCall = on_call(schedule, at)
    return {"schedule_id": schedule.schedule_id, "at": at, "user": current.user, "since": current.since,
            "until": current.until, "override": current.override}


def handoffs_answer(stored: dict[str, Any], after: datetime, count: int) -> dict[str, Any]:
    """Who is on call after `after`, then the next `count` handoffs (instant, local time, who)."""
    schedule = ScheduleSaved.model_validate(stored)
    current = on_call(schedule, after)
    return {"schedule_id": schedule.schedule_id, "time_zone": schedule.time_zone, "after": after,
            "on_call": current.user,
            "handoffs": [{"at": h.at, "local": h.at.astimezone(zone(schedule)).isoformat(), "user": h.user,
                          "override": h.override} for h in next_handoffs(schedule, after, count)]}
