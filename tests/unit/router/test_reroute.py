"""A group whose severity the bump raised is routed again (issue 10.3): a route it did not have gets a
first notification (its rule's mention, its escalation counted from the raise); each route it had gets
a broadcast thread notice, with @here once the group is high or critical."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_schemas import Severity
from signalcraft_schemas.events import EscalationArmed, GroupSeverityRaised, NotificationKind, NotificationRequested

from signalcraft_router.domain.notifications import GroupRoute
from signalcraft_router.domain.reroute import reroute
from signalcraft_router.domain.rules import routes_for

from ..builders import at, make_group, make_rule

RULES = [make_rule("page", position=1, channel="#page", conditions={"min_severity": "high"}, escalate_after_seconds=300)]
DEFAULT = GroupRoute("#default", None, None, False)


def raised(to: Severity, *, is_test: bool = False) -> GroupSeverityRaised:
    before = {Severity.HIGH: Severity.MEDIUM, Severity.MEDIUM: Severity.LOW, Severity.CRITICAL: Severity.HIGH}[to]
    return GroupSeverityRaised(group=make_group(severity=to, first_seen_at=at(0), last_seen_at=at(10), is_test=is_test),
                               from_severity=before, to_severity=to, reason="5 alerts within 10m in prod", alerts=5,
                               within_seconds=600, environment="prod")


def test_a_raise_to_high_reaches_the_paging_rule_and_notices_the_old_message():
    event = raised(Severity.HIGH)
    added, events = reroute(event, [DEFAULT], routes_for(event.group, RULES, "#default"), at(10))
    assert [r.channel for r in added] == ["#page"]
    first, armed, notice = events
    assert isinstance(first, NotificationRequested) and first.kind == NotificationKind.NEW_GROUP
    assert (first.channel, first.rule_id, first.mention_here) == ("#page", "page", True)
    assert isinstance(armed, EscalationArmed) and armed.due_at == at(10) + timedelta(seconds=300)  # from the raise
    assert isinstance(notice, NotificationRequested) and notice.kind == NotificationKind.SEVERITY_RAISED
    assert (notice.channel, notice.mention_here, notice.reason) == ("#default", True, "5 alerts within 10m in prod")
    assert notice.group.severity == Severity.HIGH


def test_below_high_the_notice_has_no_here_and_no_new_route():
    event = raised(Severity.MEDIUM)
    added, events = reroute(event, [DEFAULT], routes_for(event.group, RULES, "#default"), at(10))
    assert added == []
    [notice] = events
    assert notice.kind == NotificationKind.SEVERITY_RAISED and notice.mention_here is False


def test_a_route_the_group_already_has_gets_only_the_notice():
    event = raised(Severity.CRITICAL)
    page = GroupRoute("#page", "page", None, True)
    added, events = reroute(event, [page], routes_for(event.group, RULES, "#default"), at(10))
    assert added == [] and [(e.kind, e.channel) for e in events] == [(NotificationKind.SEVERITY_RAISED, "#page")]


def test_a_group_without_any_route_gets_its_first_one_and_nothing_fails_twice():
    event = raised(Severity.HIGH)
    added, events = reroute(event, [], routes_for(event.group, RULES, None), at(10))
    assert [r.channel for r in added] == ["#page"] and events[0].kind == NotificationKind.NEW_GROUP
    still_nothing = reroute(raised(Severity.MEDIUM), [], routes_for(raised(Severity.MEDIUM).group, RULES, None), at(10))
    assert still_nothing == ([], [])


def test_a_test_notification_never_pages():
    event = raised(Severity.HIGH, is_test=True)
    _, events = reroute(event, [DEFAULT], [], at(10))
    assert [e.mention_here for e in events] == [False]


def test_the_first_message_on_an_added_route_is_marked_when_the_group_has_one_elsewhere():
    event = raised(Severity.HIGH)
    _, with_message = reroute(event, [DEFAULT], routes_for(event.group, RULES, "#default"), at(10))
    assert with_message[0].reason == "severity_raised"
    _, without = reroute(event, [], routes_for(event.group, RULES, None), at(10))
    assert without[0].reason is None  # its first message anywhere: the group's original
