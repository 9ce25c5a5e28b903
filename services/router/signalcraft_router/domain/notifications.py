"""What the router asks for, per group event: a new group is announced on each of its routes (with
its escalation armed where the rule asks), or fails visibly when nothing routes it; later changes to
the group (its count, its state: acknowledged, snoozed, reopened, resolved...) go to every route's
message, to rewrite it. One group makes one top-level message per route while it lives; a group
has several routes when a matching rule says `continue` (fan-out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from signalcraft_policies.routing import fill_quick_actions
from signalcraft_schemas.events import (
    EscalationArmed, EventData, GroupAcknowledged, GroupAssigned, GroupCommandRejected, GroupReopened, GroupResolved,
    GroupSnapshot, GroupSnoozed, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, LinkButton, NotificationFailed,
    NotificationKind, NotificationRequested, QuickAction,
)

from .escalation_plans import EscalationPlan, armed
from .rules import Route


@dataclass(frozen=True)
class GroupRoute:
    """Where a group was announced (one of its routes): its later messages there edit that one."""

    channel: str
    rule_id: str | None
    runbook_url: str | None
    mention_here: bool
    mention_usergroup: str | None = None
    quick_actions: tuple[QuickAction, ...] = ()

    @classmethod
    def of(cls, chosen: Route) -> "GroupRoute":
        return cls(chosen.channel, chosen.rule_id, chosen.runbook_url, chosen.mention_here, chosen.mention_usergroup,
                   chosen.quick_actions)

    def buttons(self, group: GroupSnapshot) -> list[LinkButton]:
        return fill_quick_actions(self.quick_actions, group, str(group.group_id))


FirstRoute = GroupRoute  # the name from before fan-out: a group's only route


def announce(group: GroupSnapshot, chosen: Route | Sequence[Route] | None) -> list[EventData]:
    """The events a newly opened group causes, given the routes chosen for it (None or []: no route)."""
    chosen_routes = [] if chosen is None else [chosen] if isinstance(chosen, Route) else list(chosen)
    if not chosen_routes:
        return [NotificationFailed(request_id=None, kind=NotificationKind.NEW_GROUP, group_id=group.group_id,
                                   channel=None, error="no_route", attempts=0)]
    return [event for one in chosen_routes for event in _announce_on(group, one)]


def _announce_on(group: GroupSnapshot, chosen: Route) -> list[EventData]:
    events: list[EventData] = [NotificationRequested(
        kind=NotificationKind.NEW_GROUP, group=group, channel=chosen.channel, mention_here=chosen.mention_here,
        runbook_url=chosen.runbook_url, rule_id=chosen.rule_id, mention_usergroup=chosen.mention_usergroup,
        link_buttons=GroupRoute.of(chosen).buttons(group))]
    due = chosen.escalation_due(group.first_seen_at)
    if chosen.escalation is not None and not group.is_test:
        events.append(armed(chosen.escalation, group, chosen.channel, chosen.rule_id, chosen.runbook_url,
                            group.first_seen_at))
    elif due is not None and not group.is_test:  # a provider's test notification never escalates
        events.append(EscalationArmed(group=group, channel=chosen.channel, due_at=due, rule_id=chosen.rule_id,
                                      runbook_url=chosen.runbook_url))
    return events


# A person should notice these again: the escalation is armed anew unless the group is flapping.
RENOTIFYING = (GroupReopened, GroupUnacknowledged)
STATE_CHANGES = (GroupAcknowledged, GroupUnacknowledged, GroupSnoozed, GroupUnsnoozed, GroupAssigned)
GroupChange = (GroupUpdated | GroupResolved | GroupAcknowledged | GroupUnacknowledged | GroupSnoozed | GroupUnsnoozed
               | GroupAssigned | GroupReopened)


def follow_ups(event: GroupChange, routes: Sequence[GroupRoute],
               escalate_after: Callable[[str | None], timedelta | None], now: datetime,
               plan_of: Callable[[str | None], EscalationPlan | None] = lambda _: None) -> list[EventData]:
    """The follow-up of a change on every route of the group (each route's escalation policy, or delay,
    by its rule)."""
    return [e for one in routes for e in follow_up(event, one, escalate_after=escalate_after(one.rule_id), now=now,
                                                   plan=plan_of(one.rule_id))]


def follow_up(event: GroupChange, first: GroupRoute | None, *, escalate_after: timedelta | None = None,
              now: datetime | None = None, plan: EscalationPlan | None = None) -> list[EventData]:
    """The edit of the group's message on one of its routes after a change; for a reopen
    or a snooze that expired while firing also a thread reply (with @here unless flapping) and the
    escalation armed again (`escalate_after`, from `now`)."""
    if first is None:
        return []  # never notified (no route at the time): nothing to update
    group = event.group
    kind = _kind(event)
    renotifies = isinstance(event, RENOTIFYING) or kind == NotificationKind.SNOOZE_EXPIRED
    # An edited message keeps its form (editing does not notify anyone again); a re-notification mentions
    # as the first message did, unless the group is flapping. A user group is mentioned where @here would be.
    mentions = kind == NotificationKind.UPDATED or (renotifies and not group.flapping)
    request = NotificationRequested(
        kind=kind, group=group, channel=first.channel, mention_here=first.mention_here and mentions,
        runbook_url=first.runbook_url, rule_id=first.rule_id, actor=getattr(event, "by", None), reason=_reason(event),
        command_id=getattr(event, "command_id", None), flap_count=getattr(event, "flap_count", None),
        fired_during_snooze=getattr(event, "fired_during_snooze", None),
        mention_usergroup=first.mention_usergroup if mentions else None,
        link_buttons=first.buttons(group))
    events: list[EventData] = [request]
    rearms = renotifies and now is not None and not group.flapping and not group.is_test
    if rearms and plan is not None and now is not None:
        events.append(armed(plan, group, first.channel, first.rule_id, first.runbook_url, now, rearm=True))
    elif rearms and escalate_after is not None and now is not None:
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


def answer_rejection(event: GroupCommandRejected, first: GroupRoute | None) -> list[EventData]:
    """A command that changed nothing: answer the person who clicked (ephemerally, through reply_to).
    Nothing to answer without a reply address (the API reads the outcome from its read model) or a group."""
    if event.reply_to is None or event.group is None or first is None:
        return []
    return [NotificationRequested(kind=NotificationKind.COMMAND_REJECTED, group=event.group, channel=first.channel,
                                  rule_id=first.rule_id, actor=event.by, reason=event.reason,
                                  command_id=event.command_id, reply_to=event.reply_to)]
