"""Explain (POST /api/routing-rules/test, `signalcraft rule test`) as pure functions: a provider's
raw payload normalized by ingest's own parser, each rule's verdict, and the text the CLI prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalcraft_query_api.domain.config import RuleDefinition, UnknownProvider, rule_saved
from signalcraft_query_api.domain.rule_test import UnreadableSample, explain_alerts, normalize_sample, render_text
from signalcraft_policies.routing import InvalidRule
from signalcraft_schemas.events import QuickAction, RoutingConditions

from ..builders import T0, make_alert, make_rule

FIXTURES = Path(__file__).parents[2] / "contract" / "fixtures"
AM_PAYLOAD = json.loads((FIXTURES / "alertmanager" / "firing-two-alerts-zulip.json").read_text())


def test_a_provider_payload_is_normalized_as_ingest_would():
    alerts = normalize_sample("alertmanager", AM_PAYLOAD, T0, "ws-1", options={"default_environment": "prod"})
    assert len(alerts) == 2
    assert {(a.source, a.severity.value, a.environment, a.tags["host"]) for a in alerts} == {
        ("alertmanager", "critical", "prod", "andromeda")}


def test_an_unknown_provider_or_an_unreadable_payload_is_refused():
    with pytest.raises(UnknownProvider, match="known: alertmanager"):
        normalize_sample("nagios", {}, T0, "ws-1")
    with pytest.raises(UnreadableSample, match="alertmanager payload not understood"):
        normalize_sample("alertmanager", {"alerts": "nope"}, T0, "ws-1")


def test_explain_lists_routes_and_each_rules_verdict():
    rules = [make_rule("hosts", position=1, channel="#infra", continue_matching=True,
                       conditions={"matchers": ['host=~"andro.*"']}),
             make_rule("staging", position=2, channel="#staging", conditions={"environments": ["staging"]}),
             make_rule("crit", position=3, channel="#pager", conditions={"min_severity": "critical"})]
    alerts = normalize_sample("alertmanager", AM_PAYLOAD, T0, "ws-1", options={"default_environment": "prod"})
    result = explain_alerts(alerts[:1], rules, "#default").model_dump(mode="json", by_alias=True)
    [item] = result["alerts"]
    assert item["routes"] == [{"channel": "#infra", "rule_id": "hosts"}, {"channel": "#pager", "rule_id": "crit"}]
    assert item["default_channel_used"] is False
    assert [(r["rule_id"], r["matched"], r["routed"], r["continue"]) for r in item["rules"]] == [
        ("hosts", True, True, True), ("staging", False, False, False), ("crit", True, True, False)]
    assert item["rules"][1]["failed"] == {"field": "environment", "operator": "in", "expected": "staging",
                                          "actual": "prod"}
    lines = render_text(result)
    assert lines[1:] == [
        "       1 hosts (rule hosts): MATCH, continue",
        "       2 staging (rule staging): no: environment in 'staging' (was 'prod')",
        "       3 crit (rule crit): MATCH, stop",
        "  -> #infra (hosts), #pager (crit)"]


def test_nothing_matched_goes_to_the_default_channel_and_says_so():
    result = explain_alerts([make_alert(environment="dev")], [make_rule("p", conditions={"tag_keys": ["owner"]})],
                            None).model_dump(mode="json", by_alias=True)
    [item] = result["alerts"]
    assert item["routes"] == [] and item["rules"][0]["failed"]["actual"] is None
    assert render_text(result)[-2:] == ["       1 p (rule p): no: tag.owner exists 'present' (was absent)",
                                        "  -> no route (no rule matched and no default channel)"]


def test_saving_a_rule_validates_matchers_mention_and_quick_actions():
    base = RuleDefinition(workspace_id="ws-1", name="r", channel="#c")
    saved = rule_saved("r1", RuleDefinition(
        workspace_id="ws-1", name="r", channel="#c", conditions=RoutingConditions(matchers=["team=~pay.*"]),
        continue_matching=True, mention="usergroup:S0ONCALL",
        quick_actions=(QuickAction(label="Logs", url_template="https://logs.example/?q={fingerprint}"),))).event
    assert (saved.continue_matching, saved.mention, saved.quick_actions[0].label) == (True, "usergroup:S0ONCALL", "Logs")
    with pytest.raises(InvalidRule, match=r"matcher 'team=~\"\(pay\"': invalid regex"):
        rule_saved("r1", RuleDefinition(**{**base.__dict__, "conditions": RoutingConditions(matchers=['team=~"(pay"'])}))
    with pytest.raises(InvalidRule, match="quick action 'Logs' URL"):
        rule_saved("r1", RuleDefinition(**{**base.__dict__, "quick_actions": (
            QuickAction(label="Logs", url_template="logs.example/{title}"),)}))
