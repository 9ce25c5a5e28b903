"""What the router asks for: a new group's announcement (and escalation), or its visible no-route
failure; later changes edit the message where the group was first routed."""

from __future__ import annotations

from signalcraft_schemas.events import (
    EscalationArmed, GroupResolved, GroupStatus, GroupUpdated, NotificationFailed, NotificationKind,
    NotificationRequested,
)
from signalcraft_router.domain.notifications import FirstRoute, announce, follow_up
from signalcraft_router.domain.rules import Route

from ..builders import GROUP_ID, at, make_group, make_request

GROUP = make_group(first_seen_at=at(0), last_seen_at=at(0))


def test_a_group_nothing_routes_fails_visibly():
    assert announce(GROUP, None) == [NotificationFailed(
        request_id=None, kind=NotificationKind.NEW_GROUP, group_id=GROUP_ID, channel=None, error="no_route", attempts=0)]


def test_a_routed_group_is_announced_on_its_route():
    chosen = Route("#pay", "r1", "https://rb", None, True)
    assert announce(GROUP, chosen) == [make_request(group=GROUP, channel="#pay", mention_here=True,
                                                    runbook_url="https://rb", rule_id="r1")]


def test_a_rule_that_escalates_arms_the_escalation_from_the_group_first_seen():
    chosen = Route("#pay", "r1", None, 15, False)
    [requested, armed] = announce(GROUP, chosen)
    assert isinstance(requested, NotificationRequested) and requested.channel == "#pay"
    assert armed == EscalationArmed(group=GROUP, channel="#pay", due_at=at(15), rule_id="r1", runbook_url=None)


def test_changes_edit_the_message_where_the_group_was_first_routed():
    first = FirstRoute.of(Route("#pay", "r1", "https://rb", 15, True))
    assert first == FirstRoute("#pay", "r1", "https://rb", True)
    grown = make_group(count=5)
    assert follow_up(GroupUpdated(group=grown, alerts_added=4), first) == [make_request(
        kind=NotificationKind.UPDATED, group=grown, channel="#pay", mention_here=True, runbook_url="https://rb")]
    resolved = make_group(count=5, status=GroupStatus.RESOLVED)
    [edit] = follow_up(GroupResolved(group=resolved, reason="source_resolved"), first)
    assert (edit.kind, edit.channel, edit.mention_here) == (NotificationKind.RESOLVED, "#pay", False)


def test_a_group_never_announced_gets_no_edits():
    assert follow_up(GroupUpdated(group=make_group(count=2), alerts_added=1), None) == []
