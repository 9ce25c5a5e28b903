"""What-if replay (issue 10.6): groups formed as grouping forms them (stored group key, dedup window),
routed by the proposed rules through the router's own routing function, counted per channel."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_policies.routing import routes
from signalcraft_schemas import Severity
from signalcraft_schemas.events import RoutingConditions

from signalcraft_query_api.domain.config import RuleDefinition, rule_saved
from signalcraft_query_api.domain.simulate import ChannelCount, ReplayedAlert, answer, dedup_window_of, replay

from ..builders import T0

WINDOW = timedelta(minutes=10)


def alert(key: str, minute: float, severity: Severity = Severity.LOW, environment: str = "prod",
          project: str = "checkout") -> ReplayedAlert:
    return ReplayedAlert(key, T0 + timedelta(minutes=minute), "sentry", project, environment, severity, key, f"t-{key}")


def rule(n: int, channel: str, **conditions: object) -> object:
    definition = RuleDefinition(workspace_id="ws", name=f"r{n}", channel=channel, position=n,
                                conditions=RoutingConditions(**conditions))  # type: ignore[arg-type]
    return rule_saved(f"proposed-{n}", definition).event


def test_alerts_of_one_key_within_the_window_make_one_group_and_a_silence_starts_another():
    alerts = [alert("a", 0), alert("a", 9), alert("a", 18), alert("a", 40), alert("b", 1)]
    sim = replay(alerts, [], "#default", WINDOW, routes)
    assert (sim.alerts, sim.groups) == (5, 3)  # a: 0-18 (each within 10 m of the previous), a: 40; b
    assert sim.per_channel == {"#default": ChannelCount(groups=3, notifications=3)}


def test_first_match_with_continue_fans_out_and_the_default_takes_the_rest():
    rules = [rule(1, "#prod", environments=["prod"]), rule(2, "#staging", environments=["staging"])]
    rules[0] = rules[0].model_copy(update={"continue_matching": True})
    rules.append(rule(3, "#all-prod", environments=["prod"]))
    alerts = [alert("a", 0), alert("b", 0, environment="staging"), alert("c", 0, project="api", environment="dev")]
    sim = replay(alerts, rules, "#default", WINDOW, routes)
    assert sim.per_channel == {"#prod": ChannelCount(1, 1), "#all-prod": ChannelCount(1, 1),
                               "#staging": ChannelCount(1, 1), "#default": ChannelCount(1, 1)}


def test_a_group_whose_severity_rises_reaches_a_paging_rule_once():
    rules = [rule(1, "#page", min_severity="high")]
    alerts = [alert("a", 0), alert("a", 1, Severity.HIGH), alert("a", 2, Severity.CRITICAL)]
    sim = replay(alerts, rules, "#default", WINDOW, routes)
    assert sim.rerouted_groups == 1
    assert sim.per_channel == {"#default": ChannelCount(1, 1), "#page": ChannelCount(1, 1)}


def test_no_rule_and_no_default_leaves_groups_unrouted():
    sim = replay([alert("a", 0)], [rule(1, "#page", min_severity="high")], None, WINDOW, routes)
    assert (sim.unrouted_groups, sim.per_channel) == (1, {})


def test_the_answer_puts_simulated_next_to_actual_and_explains_the_replay():
    sim = replay([alert("a", 0), alert("b", 0)], [], "#default", WINDOW, routes)
    body = answer(sim, {"#default": ChannelCount(1, 1), "#old": ChannelCount(2, 2)}, since=T0, until=T0,
                  dedup_window=WINDOW, default_channel="#default")
    assert body["channels"] == [
        {"channel": "#default", "simulated": {"groups": 2, "notifications": 2}, "actual": {"groups": 1, "notifications": 1}},
        {"channel": "#old", "simulated": {"groups": 0, "notifications": 0}, "actual": {"groups": 2, "notifications": 2}}]
    assert "dedup window (10m)" in body["how_groups_are_formed"] and body["changed_nothing"] is True


def test_the_dedup_window_is_the_workspaces_seconds_or_minutes():
    assert dedup_window_of({"dedup_window_seconds": 90, "dedup_window_minutes": 2}) == timedelta(seconds=90)
    assert dedup_window_of({"dedup_window_seconds": None, "dedup_window_minutes": 15}) == timedelta(minutes=15)
