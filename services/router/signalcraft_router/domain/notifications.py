"""What the router asks for, per group event: a new group is announced where its route says (with
its escalation armed if the rule asks), or fails visibly when nothing routes it; later changes to
the group (its count, its resolution) go where the group was first routed, to update that message."""

from __future__ import annotations

from dataclasses import dataclass

from signalcraft_schemas.events import (
    EscalationArmed, EventData, GroupResolved, GroupSnapshot, GroupUpdated, NotificationFailed, NotificationKind,
    NotificationRequested,
)

from .rules import Route


@dataclass(frozen=True)
class FirstRoute:
    """Where a group was announced: its later messages edit that one."""

    channel: str
    rule_id: str | None
    runbook_url: str | None
    mention_here: bool

    @classmethod
    def of(cls, chosen: Route) -> "FirstRoute":
        return cls(chosen.channel, chosen.rule_id, chosen.runbook_url, chosen.mention_here)


def announce(group: GroupSnapshot, chosen: Route | None) -> list[EventData]:
    """The events a newly opened group causes, given the route chosen for it (None: no route)."""
    if chosen is None:
        return [NotificationFailed(request_id=None, kind=NotificationKind.NEW_GROUP, group_id=group.group_id,
                                   channel=None, error="no_route", attempts=0)]
    events: list[EventData] = [NotificationRequested(
        kind=NotificationKind.NEW_GROUP, group=group, channel=chosen.channel, mention_here=chosen.mention_here,
        runbook_url=chosen.runbook_url, rule_id=chosen.rule_id)]
    due = chosen.escalation_due(group.first_seen_at)
    if due is not None:
        events.append(EscalationArmed(group=group, channel=chosen.channel, due_at=due, rule_id=chosen.rule_id,
                                      runbook_url=chosen.runbook_url))
    return events


def follow_up(event: GroupUpdated | GroupResolved, first: FirstRoute | None) -> list[NotificationRequested]:
    """The edit of the group's message after a change, where the group was first routed."""
    if first is None:
        return []  # never notified (no route at the time): nothing to update
    kind = NotificationKind.RESOLVED if isinstance(event, GroupResolved) else NotificationKind.UPDATED
    # An edited message keeps its form (editing does not notify anyone again).
    return [NotificationRequested(kind=kind, group=event.group, channel=first.channel,
                                  mention_here=first.mention_here and kind == NotificationKind.UPDATED,
                                  runbook_url=first.runbook_url, rule_id=first.rule_id)]
