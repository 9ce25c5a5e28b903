"""What the router asks for, per group event: a new group is announced where its route says (with
its escalation armed if the rule asks), or fails visibly when nothing routes it; later changes to
the group (its count, its state: acknowledged, snoozed, reopened, resolved...) go where the group was
first routed, to rewrite that message. One group makes one top-level message while it lives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from signalcraft_schemas.events import (
    EscalationArmed, EventData, GroupAcknowledged, GroupAssigned, GroupCommandRejected, GroupReopened, GroupResolved,
    GroupSnapshot, GroupSnoozed, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, NotificationFailed,
    NotificationKind, NotificationRequested,
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
    if due is not None and not group.is_test:  # a provider's test notification never escalates
        events.append(EscalationArmed(group=group, channel=chosen.channel, due_at=due, rule_id=chosen.rule_id,
                                      runbook_url=chosen.runbook_url))
    return events


# A person should notice these again: the escalation is armed anew unless the group is flapping.
RENOTIFYING = (GroupReopened, GroupUnacknowledged)
STATE_CHANGES = (GroupAcknowledged, GroupUnacknowledged, GroupSnoozed, GroupUnsnoozed, GroupAssigned)
GroupChange = (GroupUpdated | GroupResolved | GroupAcknowledged | GroupUnacknowledged | GroupSnoozed | GroupUnsnoozed
               | GroupAssigned | GroupReopened)


def follow_up(event: GroupChange, first: FirstRoute | None, *, escalate_after: timedelta | None = None,
              now: datetime | None = None) -> list[EventData]:
    """The edit of the group's message after a change, where the group was first routed; for a reopen
    or a snooze that expired while firing also a thread reply (with @here unless flapping) and the
    escalation armed again (`escalate_after`, from `now`)."""
    if first is None:
        return []  # never notified (no route at the time): nothing to update
    group = event.group
    kind = _kind(event)
    renotifies = isinstance(event, RENOTIFYING) or kind == NotificationKind.SNOOZE_EXPIRED
    # An edited message keeps its form (editing does not notify anyone again); a re-notification mentions
    # as the first message did, unless the group is flapping.
    mention = first.mention_here and (kind == NotificationKind.UPDATED or (renotifies and not group.flapping))
    request = NotificationRequested(
        kind=kind, group=group, channel=first.channel, mention_here=mention, runbook_url=first.runbook_url,
        rule_id=first.rule_id, actor=getattr(event, "by", None), reason=_reason(event),
        command_id=getattr(event, "command_id", None), flap_count=getattr(event, "flap_count", None),
        fired_during_snooze=getattr(event, "fired_during_snooze", None))
    events: list[EventData] = [request]
    if renotifies and escalate_after is not None and now is not None and not group.flapping and not group.is_test:
        events.append(EscalationArmed(group=group, channel=first.channel, due_at=now + escalate_after,
                                      rule_id=first.rule_id, runbook_url=first.runbook_url, rearm=True))
    return events


def _kind(event: GroupChange) -> NotificationKind:
    if isinstance(event, GroupResolved):
        return NotificationKind.RESOLVED
    if isinstance(event, GroupReopened):
        return NotificationKind.REOPENED
    if isinstance(event, GroupUnsnoozed) and event.reason == "expired" and event.fired_during_snooze > 0:
        return NotificationKind.SNOOZE_EXPIRED
    if isinstance(event, STATE_CHANGES):
        return NotificationKind.STATE_CHANGED
    return NotificationKind.UPDATED


def _reason(event: GroupChange) -> str | None:
    reason = getattr(event, "reason", None)
    return str(reason) if reason is not None else None


def answer_rejection(event: GroupCommandRejected, first: FirstRoute | None) -> list[EventData]:
    """A command that changed nothing: answer the person who clicked (ephemerally, through reply_to).
    Nothing to answer without a reply address (the API reads the outcome from its read model) or a group."""
    if event.reply_to is None or event.group is None or first is None:
        return []
    return [NotificationRequested(kind=NotificationKind.COMMAND_REJECTED, group=event.group, channel=first.channel,
                                  rule_id=first.rule_id, actor=event.by, reason=event.reason,
                                  command_id=event.command_id, reply_to=event.reply_to)]
