"""What the router does when grouping's severity bump raised a group (issue 10.3): the group is routed
again with its new severity, since it may now match a paging rule.

- Each route it did not have before gets a first notification (a new top-level message there, with
  that rule's mention policy, and its escalation armed as `announce` arms it, counted from the raise:
  the page is new even if the group is not).
- Each route it had keeps its message: a thread reply broadcast to the channel ("severity raised to
  high: <reason>"), with @here when the group reaches high or critical (and the route's user group,
  if its rule names one); the notifier also rewrites that message to show the new severity.
Routes are never taken away: a raised severity stays for the group's life.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from signalcraft_schemas import Severity
from signalcraft_schemas.events import (
    ADDED_ROUTE_REASON, EscalationArmed, EventData, GroupSeverityRaised, NotificationKind, NotificationRequested,
)

from .notifications import GroupRoute, announce
from .rules import Route

PAGING_SEVERITIES = {Severity.HIGH, Severity.CRITICAL}


def new_routes(existing: Sequence[GroupRoute], now: Sequence[Route]) -> list[Route]:
    """The routes the raised group has now and did not have (by channel), in rule order."""
    had = {route.channel for route in existing}
    return [route for route in now if route.channel not in had]


def reroute(raised: GroupSeverityRaised, existing: Sequence[GroupRoute], now_routes: Sequence[Route],
            at: datetime) -> tuple[list[Route], list[EventData]]:
    """The routes added and the events they and the existing routes cause (see the module's doc)."""
    group = raised.group
    added = new_routes(existing, now_routes)
    events: list[EventData] = []
    if added:
        # Escalations count from the raise, not from when the group first opened.
        events += [_from_the_raise(e, at - group.first_seen_at, has_message=bool(existing))
                   for e in announce(group, added)]
    pages = Severity(group.severity) in PAGING_SEVERITIES and not group.is_test
    for route in existing:
        events.append(NotificationRequested(
            kind=NotificationKind.SEVERITY_RAISED, group=group, channel=route.channel, mention_here=pages,
            mention_usergroup=route.mention_usergroup if pages else None, runbook_url=route.runbook_url,
            rule_id=route.rule_id, reason=raised.reason, link_buttons=route.buttons(group)))
    return added, events


def _from_the_raise(event: EventData, shift: timedelta, *, has_message: bool) -> EventData:
    """An escalation counts from the raise; a first message on an added route is marked as such when
    the group already has its message elsewhere (the notifier keeps that one as the group's original)."""
    if isinstance(event, EscalationArmed):
        return event.model_copy(update={"due_at": event.due_at + shift})
    if isinstance(event, NotificationRequested) and has_message:
        return event.model_copy(update={"reason": ADDED_ROUTE_REASON})
    return event
