"""Routing rules as pure functions: every condition kind, ordering with `continue`, the default
channel, explain's first failing condition, quick-action templates and what a rule may be saved with."""

from __future__ import annotations

import pytest

from signalcraft_policies.routing import (
    Failure, InvalidRule, explain, fill_quick_actions, first_failure, mention_for, routes, validate_rule,
)
from signalcraft_schemas import Severity
from signalcraft_schemas.events import LinkButton, QuickAction, RoutingConditions

from ..builders import GROUP_ID, make_alert, make_group, make_rule

GROUP = make_group(tags={"team": "payments", "region": "eu-west-1"})  # prod, high, checkout, sentry


@pytest.mark.parametrize("conditions, failure", [
    ({"environments": ["staging", "dev"]}, Failure("environment", "in", "staging, dev", "prod")),
    ({"min_severity": "critical"}, Failure("severity", ">=", "critical", "high")),
    ({"projects": ["search"]}, Failure("project", "in", "search", "checkout")),
    ({"sources": ["datadog"]}, Failure("source", "in", "datadog", "sentry")),
    ({"tag_keys": ["owner"]}, Failure("tag.owner", "exists", "present", None)),
    ({"tags": {"team": "db"}}, Failure("tag.team", "=", "db", "payments")),
    ({"tags": {"owner": "x"}}, Failure("tag.owner", "=", "x", None)),
    ({"matchers": ['region=~"us-.*"']}, Failure("tag.region", "=~", "us-.*", "eu-west-1")),
    ({"matchers": ['severity!~"high|critical"']}, Failure("severity", "!~", "high|critical", "high")),
    ({"matchers": ['title!="TimeoutError in /pay"']}, Failure("title", "!=", "TimeoutError in /pay",
                                                               "TimeoutError in /pay")),
    # several conditions: the first failing one, in the documented order
    ({"environments": ["prod"], "min_severity": "critical", "projects": ["search"]},
     Failure("severity", ">=", "critical", "high")),
])
def test_the_first_failing_condition(conditions: dict, failure: Failure):
    assert first_failure(RoutingConditions(**conditions), GROUP) == failure


def test_every_condition_holding_is_a_match():
    conditions = RoutingConditions(environments=["PROD"], min_severity=Severity.MEDIUM, projects=["checkout"],
                                   sources=["sentry"], tag_keys=["region"], tags={"team": "payments"},
                                   matchers=['region=~"eu-.*"', 'team!="db"', 'environment="prod"'])
    assert first_failure(conditions, GROUP) is None


def test_explain_gives_every_rule_its_verdict_in_order():
    rules = [make_rule("later", position=30, channel="#late"),
             make_rule("staging", position=10, conditions={"environments": ["staging"]}),
             make_rule("off", position=15, enabled=False),
             make_rule("eu", position=20, channel="#eu", continue_matching=True, conditions={"matchers": ['region=~"eu-.*"']}),
             make_rule("pay", position=25, channel="#pay", conditions={"tags": {"team": "payments"}})]
    verdicts = explain(rules, GROUP)
    assert [(v.rule_id, v.matched, v.routed, v.stopped_by) for v in verdicts] == [
        ("staging", False, False, None), ("off", False, False, None), ("eu", True, True, None),
        ("pay", True, True, None), ("later", True, False, "pay")]
    assert verdicts[0].failed == Failure("environment", "in", "staging", "prod")
    assert verdicts[1].enabled is False and verdicts[1].failed is None
    assert [(r.channel, r.rule_id) for r in routes(GROUP, rules, "#default")] == [("#eu", "eu"), ("#pay", "pay")]


def test_a_single_alert_is_explained_like_a_group():
    alert = make_alert(environment="staging", tags={"team": "db"})
    rules = [make_rule("prod", conditions={"environments": ["prod"]}), make_rule("db", position=2, channel="#db",
                                                                           conditions={"matchers": ["team=db"]})]
    assert [(v.rule_id, v.routed) for v in explain(rules, alert)] == [("prod", False), ("db", True)]
    assert [r.channel for r in routes(alert, rules, None)] == ["#db"]
    assert [(r.channel, r.rule_id) for r in routes(alert, rules[:1], "#default")] == [("#default", None)]


def test_a_rule_saved_before_validation_with_a_bad_matcher_matches_nothing_and_explains_why():
    rules = [make_rule("bad", conditions={"matchers": ['x=~"(" ']})]
    assert routes(GROUP, rules, "#default")[0].channel == "#default"
    [verdict] = explain(rules, GROUP)
    assert not verdict.matched and verdict.failed is not None and "invalid regex" in verdict.failed.expected


def test_mention_policies():
    assert mention_for("here_for_high", Severity.HIGH).here and not mention_for("here_for_high", Severity.MEDIUM).here
    assert mention_for("none", Severity.CRITICAL) == mention_for("none", Severity.INFO)
    assert mention_for("usergroup:S0123ABC", Severity.LOW).usergroup == "S0123ABC"


def test_quick_action_templates_are_filled_url_encoded():
    actions = [QuickAction(label="Logs", url_template=(
        "https://logs.example/search?q={title}&env={environment}&src={source}&fp={fingerprint}&g={group_id}"
        "&region={tag.region}&missing={tag.nope}"))]
    [filled] = fill_quick_actions(actions, GROUP, str(GROUP_ID))
    assert filled == LinkButton(label="Logs", url=(
        "https://logs.example/search?q=TimeoutError%20in%20%2Fpay&env=prod&src=sentry&fp=fp-1"
        f"&g={GROUP_ID}&region=eu-west-1&missing="))


@pytest.mark.parametrize("conditions, mention, actions, says", [
    ({"matchers": ['severity=~"(high"']}, "here_for_high", [], "invalid regex"),
    ({"matchers": ["nonsense"]}, "here_for_high", [], "'nonsense'"),
    ({}, "everyone", [], "mention 'everyone'"),
    ({}, "usergroup:oncall", [], "usergroup:<S...>"),
    ({}, "none", [QuickAction(label="x", url_template="ftp://files.example/{project}")], "not an http(s) URL"),
    ({}, "none", [QuickAction(label="x", url_template="{project}")], "not an http(s) URL"),
    ({}, "none", [QuickAction(label="x", url_template="https://{host}/x")], "unknown placeholder {host}"),
    ({}, "none", [QuickAction(label="x", url_template="https://a.example/{project")], "unbalanced braces"),
    ({}, "none", [QuickAction(label="x", url_template="https:///no-host")], "not an http(s) URL"),
])
def test_what_a_rule_cannot_be_saved_with(conditions: dict, mention: str, actions: list, says: str):
    with pytest.raises(InvalidRule) as refused:
        validate_rule(RoutingConditions(**conditions), mention, actions)
    assert says in str(refused.value)


def test_a_valid_rule_passes():
    validate_rule(RoutingConditions(matchers=['severity=~"high|critical"', "team!=db"]), "usergroup:S0123ABC",
                  [QuickAction(label="Dashboard", url_template="https://grafana.example/d/x?p={project}&t={tag.team}"),
                   QuickAction(label="Sub", url_template="https://{tag.env}.deploy.example/rollback")],
                  "https://runbooks.example/checkout")
