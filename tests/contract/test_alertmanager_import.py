"""`signalcraft rule import`: Alertmanager's documented example configuration (fixtures/
alertmanager-config/simple.yml, provenance in its SOURCES.md) as ordered rules, checked against
Alertmanager's own routing semantics (a reference walk of the tree) for alerts of every branch."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from signalcraft_policies.routing import routes
from signalcraft_query_api.domain.alertmanager_import import InvalidConfig, read_receivers, translate
from signalcraft_schemas import NormalizedAlert, Severity
from signalcraft_schemas.events import RoutingConditions, RoutingRuleSaved

FIXTURE = Path(__file__).parent / "fixtures" / "alertmanager-config"
CONFIG = yaml.safe_load((FIXTURE / "simple.yml").read_text())
RECEIVERS = read_receivers(yaml.safe_load((FIXTURE / "receivers.yml").read_text()))


def alert(labels: dict[str, str]) -> NormalizedAlert:
    return NormalizedAlert(source="alertmanager", source_event_id="e", project="p", environment="prod",
                           severity=Severity.MEDIUM, fingerprint="f", title="t", tags=labels,
                           occurred_at="2026-01-01T00:00:00Z")


def as_rules(plan_rules: list[Any]) -> list[RoutingRuleSaved]:
    return [RoutingRuleSaved(rule_id=f"r{n}", workspace_id="ws", name=r.body["name"], position=r.body["position"],
                             conditions=RoutingConditions(**r.body["conditions"]), channel=r.body["channel"],
                             continue_matching=r.body["continue"], mention=r.body.get("mention", "here_for_high"))
            for n, r in enumerate(plan_rules)]


def alertmanager_receivers(route: dict[str, Any], labels: dict[str, str], parent: str | None = None) -> list[str]:
    """Alertmanager's dispatch: the matching children (stopping at one without `continue`), else the route itself."""
    receiver = route.get("receiver", parent)
    found: list[str] = []
    for child in route.get("routes") or []:
        matched = all(labels.get(k, "") == v for k, v in (child.get("match") or {}).items()) and all(
            re.fullmatch(v, labels.get(k, "")) for k, v in (child.get("match_re") or {}).items())
        if matched:
            found += alertmanager_receivers(child, labels, receiver)
            if not child.get("continue"):
                break
    return found or ([receiver] if receiver else [])


def test_the_documented_example_becomes_ordered_rules():
    plan = translate(CONFIG, RECEIVERS, "ws", first_position=100, step=10)
    assert [(r.body["position"], r.body["channel"], r.body["conditions"]["matchers"], r.body["continue"])
            for r in plan.rules] == [
        (100, "#team-x-oncall", ['service=~"^(foo1|foo2|baz)$"', 'tag.severity="critical"'], False),
        (110, "#team-x", ['service=~"^(foo1|foo2|baz)$"'], False),
        (120, "#team-y-oncall", ['service="files"', 'tag.severity="critical"'], False),
        (130, "#team-y", ['service="files"'], False),
        (140, "#team-x-oncall", ['service="database"', 'owner="team-X"'], False),
        (150, "#team-y-oncall", ['service="database"', 'owner="team-Y"'], False)]
    assert plan.rules[0].body["mention"] == "usergroup:S0TEAMX"  # from the mapping file
    assert plan.rules[0].path == "route.routes[0].routes[0]" and plan.rules[0].receiver == "team-X-pager"
    said = "\n".join(plan.untranslated)
    for expected in ("global:", "templates:", "inhibit_rules:", "route.group_by:", "route.group_wait:",
                     "route.group_interval:", "route.repeat_interval:", "route.routes[2].group_by:",
                     "receiver 'team-DB-pager': not in the receivers mapping"):
        assert expected in said, expected


def test_the_rules_route_every_alert_where_alertmanager_would():
    mapping = {name: RECEIVERS.get(name) for name in ("team-X-mails", "team-X-pager", "team-Y-mails", "team-Y-pager")}
    everyone = read_receivers({**{k: v.channel for k, v in mapping.items() if v}, "team-DB-pager": "#db"})
    rules = as_rules(translate(CONFIG, everyone, "ws").rules)
    channel_of = {name: target.channel for name, target in everyone.items()}
    label_sets = [dict(filter(lambda kv: kv[1] is not None, zip(("service", "severity", "owner"), values)))
                  for values in itertools.product(("foo1", "baz", "foo3", "files", "database", None),
                                                  ("critical", "warning", None), ("team-X", "team-Y", None))]
    for labels in label_sets:
        expected = [channel_of[r] for r in alertmanager_receivers(CONFIG["route"], labels)]
        got = [r.channel for r in routes(alert(labels), rules, None)]
        assert got == expected, labels


def test_matchers_lists_braces_continue_and_inherited_receivers():
    config = {"route": {"receiver": "default", "routes": [
        {"matchers": ['team="payments"', 'severity=~"critical|page"'], "receiver": "pay", "continue": True},
        {"matchers": ['{env="prod", region=~"eu-.*"}'], "routes": [{"matchers": ["owner!=db"]}]},
        {"matchers": ['broken=~"("'], "receiver": "pay"},
        {"receiver": "pay", "mute_time_intervals": ["weekends"], "group_wait": "10s"}]}}
    plan = translate(config, read_receivers({"receivers": {"default": "#all", "pay": "#pay"}}), "ws", 1, 1)
    assert [(r.body["channel"], r.body["conditions"]["matchers"], r.body["continue"]) for r in plan.rules] == [
        ("#pay", ['team="payments"', 'tag.severity=~"critical|page"'], True),
        ("#all", ['env="prod"', 'region=~"eu-.*"', 'owner!="db"'], False),  # inherits the root's receiver
        ("#all", ['env="prod"', 'region=~"eu-.*"'], False),
        ("#pay", [], False),
        ("#all", [], False)]  # the root: every alert no other rule took
    said = "\n".join(plan.untranslated)
    assert "route.routes[2]: matcher not translated" in said and "invalid regex" in said
    assert "route.routes[3].mute_time_intervals" in said and "route.routes[3].group_wait" in said


def test_what_is_not_a_route_tree_is_refused():
    with pytest.raises(InvalidConfig, match="no `route:` tree"):
        translate({"receivers": []}, {}, "ws")
    with pytest.raises(InvalidConfig, match="receiver 'x'"):
        read_receivers({"x": 3})
