"""Routing: each condition, first match by position, disabled rules, default channel, @here."""

from __future__ import annotations

from signalcraft_schemas import Severity
from signalcraft_schemas.events import RoutingConditions
from signalcraft_router.domain.rules import Route, matches, route

from ..builders import at, make_group, make_rule

GROUP = make_group(environment="prod", project="checkout", severity=Severity.HIGH, source="sentry",
                   tags={"team": "payments", "region": "eu"})


def test_empty_conditions_match_anything():
    assert matches(RoutingConditions(), GROUP)


def m(**conditions):
    return matches(RoutingConditions(**conditions), GROUP)


def test_environment_condition_is_any_of_and_case_insensitive_on_the_rule():
    assert m(environments=["staging", "prod"])
    assert m(environments=["PROD"])
    assert not m(environments=["staging"])


def test_min_severity_condition_is_at_least():
    assert m(min_severity=Severity.HIGH)  # equal passes
    assert m(min_severity=Severity.MEDIUM)
    assert not m(min_severity=Severity.CRITICAL)


def test_projects_condition_is_any_of():
    assert m(projects=["checkout", "search"])
    assert not m(projects=["search"])


def test_tags_condition_requires_every_key_value():
    assert m(tags={"team": "payments"})
    assert m(tags={"team": "payments", "region": "eu"})
    assert not m(tags={"team": "payments", "region": "us"})
    assert not m(tags={"owner": "x"})  # missing tag


def test_sources_condition_is_any_of():
    assert m(sources=["grafana", "sentry"])
    assert not m(sources=["grafana"])


def test_all_set_conditions_must_hold():
    assert m(environments=["prod"], projects=["checkout"], min_severity=Severity.HIGH, sources=["sentry"])
    assert not m(environments=["prod"], projects=["checkout"], min_severity=Severity.CRITICAL)


def test_first_match_by_position_wins_regardless_of_list_order():
    rules = [
        make_rule("late", position=5, channel="#late"),
        make_rule("early", position=1, channel="#early", runbook_url="https://rb/1", escalate_after_minutes=15),
        make_rule("nomatch", position=0, channel="#nope", conditions={"projects": ["search"]}),
    ]
    assert route(GROUP, rules, "#default") == Route("#early", "early", "https://rb/1", 15, True)


def test_position_ties_are_broken_by_rule_id():
    rules = [make_rule("b", position=1, channel="#b"), make_rule("a", position=1, channel="#a")]
    assert route(GROUP, rules, None).rule_id == "a"
    assert route(GROUP, list(reversed(rules)), None).rule_id == "a"


def test_disabled_rules_are_skipped():
    rules = [make_rule("off", position=1, channel="#off", enabled=False), make_rule("on", position=2, channel="#on")]
    assert route(GROUP, rules, None).channel == "#on"


def test_default_channel_when_no_rule_matches():
    rules = [make_rule("x", conditions={"environments": ["dev"]})]
    assert route(GROUP, rules, "#default") == Route("#default", None, None, None, True)


def test_none_when_nothing_matches_and_no_default():
    assert route(GROUP, [make_rule("x", conditions={"environments": ["dev"]})], None) is None
    assert route(GROUP, [], "") is None


def test_mention_here_only_for_high_and_critical():
    for severity in Severity:
        here = severity in (Severity.HIGH, Severity.CRITICAL)
        group = GROUP.model_copy(update={"severity": severity})
        assert route(group, [make_rule("r")], None).mention_here is here, severity
        assert route(group, [], "#default").mention_here is here, severity


def test_escalation_due():
    assert Route("#c", "r", None, 30, True).escalation_due(at(0)) == at(30)
    assert Route("#c", "r", None, None, True).escalation_due(at(0)) is None
