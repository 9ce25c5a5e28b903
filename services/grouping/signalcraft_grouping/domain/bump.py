"""Severity bump (issue 10.3): K alerts of one group within W in a chosen environment raise the
group's severity one level (info → low → medium → high → critical), with the reason recorded.

Per group, `BumpState` keeps the receipt times of its latest alerts in a bump environment (at most
K, oldest first) and the severities it was already raised from. `decide_bump` is asked after each
firing alert has joined the group; when the K newest alerts span at most W it raises the group once
and starts counting afresh, so the next level needs K more alerts within W. A level is raised from
at most once, and since a group's severity never falls while it lives (alerts only raise it), a
raised severity stays for the group's life. A new group under the key starts with a fresh state.

Pure: the caller passes the group after the alert, the alert's environment and when it was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from signalcraft_schemas import Severity
from signalcraft_schemas.durations import format_duration
from signalcraft_schemas.events import GroupSeverityRaised, GroupSnapshot, WorkspaceConfigured

LEVELS = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


@dataclass(frozen=True)
class BumpPolicy:
    count: int
    within: timedelta
    environments: frozenset[str]

    def applies_to(self, environment: str) -> bool:
        return environment.lower() in self.environments


@dataclass(frozen=True)
class BumpState:
    """What the bump remembers of one group (grouping's repository stores it with the head)."""

    group_id: UUID | None = None  # the group these times belong to
    recent: tuple[datetime, ...] = ()  # receipt times of its latest alerts in a bump environment, oldest first
    raised_from: tuple[Severity, ...] = ()  # the levels it was raised from, in order


NO_BUMPS = BumpState()


def bump_policy(workspace: WorkspaceConfigured | None) -> BumpPolicy | None:
    """The workspace's severity bump; None when it has none (off)."""
    if workspace is None or workspace.severity_bump is None:
        return None
    bump = workspace.severity_bump
    return BumpPolicy(bump.count, timedelta(seconds=bump.within_seconds),
                      frozenset(e.lower() for e in bump.environments))


def next_level(severity: Severity) -> Severity | None:
    index = LEVELS.index(Severity(severity))
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def reason_text(policy: BumpPolicy, environment: str) -> str:
    return f"{policy.count} alerts within {format_duration(int(policy.within.total_seconds()))} in {environment}"


def decide_bump(group: GroupSnapshot, state: BumpState, policy: BumpPolicy | None, *, environment: str,
                received_at: datetime) -> tuple[BumpState, list[GroupSeverityRaised]]:
    """One more firing alert (received at `received_at`, from `environment`) has joined `group`:
    the bump state after it, and the raise it causes, if any."""
    if state.group_id != group.group_id:
        state = BumpState(group_id=group.group_id)
    if policy is None or group.is_test or not policy.applies_to(environment):
        return state, []
    recent = tuple(sorted((*state.recent, received_at)))[-policy.count:]
    state = BumpState(state.group_id, recent, state.raised_from)
    if len(recent) < policy.count or recent[-1] - recent[0] > policy.within:
        return state, []
    current = Severity(group.severity)
    raised = next_level(current)
    if raised is None or current in state.raised_from:
        return state, []  # critical already, or this level was raised from before: at most one raise per level
    raise_ = GroupSeverityRaised(
        group=group.model_copy(update={"severity": raised}), from_severity=current, to_severity=raised,
        reason=reason_text(policy, environment), alerts=policy.count,
        within_seconds=int(policy.within.total_seconds()), environment=environment)
    # Counting starts afresh: the next level needs K more alerts within W.
    return BumpState(state.group_id, (), (*state.raised_from, current)), [raise_]
