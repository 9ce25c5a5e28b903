"""Fan-out: a matching rule that continues sends the group on to later matches, one message per
channel, each with its own rule id; every change then follows on every route."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_schemas import Severity
from signalcraft_schemas.events import (
    EscalationArmed, GroupReopened, GroupResolved, GroupUpdated, LinkButton, NotificationKind, NotificationRequested,
    QuickAction,
)
from signalcraft_router.domain.notifications import GroupRoute, announce, follow_ups
from signalcraft_router.domain.rules import routes_for

from ..builders import GROUP_ID, at, make_group, make_rule

GROUP = make_group(first_seen_at=at(0))


def test_a_continuing_rule_lets_the_group_reach_every_later_match():
    rules = [make_rule("all-prod", position=1, channel="#prod", continue_matching=True,
                       conditions={"environments": ["prod"]}),
             make_rule("payments", position=2, channel="#payments", conditions={"tags": {"team": "payments"}}),
             make_rule("after-stop", position=3, channel="#late")]
    assert [(r.channel, r.rule_id) for r in routes_for(GROUP, rules, "#default")] == [
        ("#prod", "all-prod"), ("#payments", "payments")]


def test_without_continue_the_first_match_stops_evaluation():
    rules = [make_rule("a", position=1, channel="#a"), make_rule("b", position=2, channel="#b")]
    assert [r.rule_id for r in routes_for(GROUP, rules, "#default")] == ["a"]


def test_one_message_per_channel_the_first_rule_for_a_channel_wins():
    rules = [make_rule("a", position=1, channel="#same", continue_matching=True, runbook_url="https://rb/a"),
             make_rule("b", position=2, channel="#same", runbook_url="https://rb/b")]
    [only] = routes_for(GROUP, rules, None)
    assert (only.rule_id, only.runbook_url) == ("a", "https://rb/a")


def test_nothing_matched_goes_to_the_default_channel_only():
    rules = [make_rule("dev", channel="#dev", continue_matching=True, conditions={"environments": ["dev"]})]
    assert [(r.channel, r.rule_id) for r in routes_for(GROUP, rules, "#default")] == [("#default", None)]
    assert routes_for(GROUP, rules, None) == []


def test_each_route_is_announced_with_its_own_rule_and_escalation():
    rules = [make_rule("a", position=1, channel="#a", continue_matching=True, escalate_after_seconds=90),
             make_rule("b", position=2, channel="#b")]
    events = announce(GROUP, routes_for(GROUP, rules, None))
    assert [(type(e).__name__, e.channel, e.rule_id) for e in events] == [
        ("NotificationRequested", "#a", "a"), ("EscalationArmed", "#a", "a"), ("NotificationRequested", "#b", "b")]
    armed = events[1]
    assert isinstance(armed, EscalationArmed) and armed.due_at == at(0) + timedelta(seconds=90)


def test_every_change_follows_on_every_route():
    routes = [GroupRoute("#a", "a", None, True), GroupRoute("#b", "b", "https://rb", False)]
    delays = {"a": timedelta(minutes=5), "b": None}
    updated = follow_ups(GroupUpdated(group=make_group(count=3), alerts_added=2), routes, delays.get, now=at(1))
    assert [(e.kind, e.channel, e.rule_id, e.mention_here) for e in updated] == [
        (NotificationKind.UPDATED, "#a", "a", True), (NotificationKind.UPDATED, "#b", "b", False)]
    resolved = follow_ups(GroupResolved(group=make_group(), reason="manual"), routes, delays.get, now=at(1))
    assert [(e.kind, e.channel) for e in resolved] == [(NotificationKind.RESOLVED, "#a"), (NotificationKind.RESOLVED, "#b")]
    reopened = follow_ups(GroupReopened(group=make_group(), flap_count=1, flapping=False), routes, delays.get,
                          now=at(10))
    assert [(type(e).__name__, e.channel) for e in reopened] == [
        ("NotificationRequested", "#a"), ("EscalationArmed", "#a"), ("NotificationRequested", "#b")]
    assert follow_ups(GroupUpdated(group=make_group(), alerts_added=1), [], delays.get, now=at(1)) == []


def test_mention_policies():
    low = make_group(severity=Severity.LOW)
    def only(rule, group=GROUP):
        [route] = routes_for(group, [rule], None)
        return route.mention_here, route.mention_usergroup
    assert only(make_rule("r")) == (True, None)  # here_for_high, the default
    assert only(make_rule("r"), low) == (False, None)
    assert only(make_rule("r", mention="none")) == (False, None)
    assert only(make_rule("r", mention="usergroup:S0123ABC"), low) == (False, "S0123ABC")
    [request] = announce(low, routes_for(low, [make_rule("r", mention="usergroup:S0123ABC")], None))
    assert isinstance(request, NotificationRequested) and request.mention_usergroup == "S0123ABC"


def test_quick_actions_are_filled_from_the_group_on_every_message():
    rule = make_rule("r", quick_actions=[QuickAction(label="Dashboard", url_template=(
        "https://grafana.example/d/x?var-project={project}&group={group_id}&team={tag.team}&q={title}"))])
    [request] = announce(GROUP, routes_for(GROUP, [rule], None))
    expected = LinkButton(label="Dashboard", url=(
        f"https://grafana.example/d/x?var-project=checkout&group={GROUP_ID}&team=payments&q=TimeoutError%20in%20%2Fpay"))
    assert request.link_buttons == [expected]
    [route] = routes_for(GROUP, [rule], None)
    [update] = follow_ups(GroupUpdated(group=GROUP, alerts_added=1), [GroupRoute.of(route)], lambda _: None, now=at(1))
    assert update.link_buttons == [expected]
