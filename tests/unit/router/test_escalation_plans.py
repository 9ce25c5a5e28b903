"""The router arms each route's escalation policy (issue 10.1): a rule's policy, the workspace's for
the default route, the legacy escalate_after otherwise; a reopen arms the policy again unless flapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from signalcraft_router.domain.escalation_plans import EscalationPlan, plan_for
from signalcraft_router.domain.notifications import GroupRoute, announce, follow_up
from signalcraft_router.domain.rules import routes_for
from signalcraft_schemas.events import (
    EscalationArmed, EscalationLevel, EscalationPolicySaved, EscalationRepeat, GroupReopened, GroupStatus,
    WorkspaceConfigured,
)

from ..builders import WORKSPACE, at, make_group, make_rule

POLICY = EscalationPolicySaved(policy_id="p1", workspace_id=WORKSPACE, name="payments", levels=[
    EscalationLevel(after_seconds=300, targets=["#alerts"]), EscalationLevel(after_seconds=600, targets=["<@ULEAD>"])],
    repeat=EscalationRepeat(every_seconds=120, times=3))
WORKSPACE_WITH_POLICY = WorkspaceConfigured(workspace_id=WORKSPACE, name="w", default_channel="#default",
                                            escalation_policy_id="p1")


def lookup(policy_id: str | None) -> EscalationPolicySaved | None:
    return POLICY if policy_id == "p1" else None


def test_a_rule_naming_a_policy_arms_its_levels_from_the_first_notification():
    rules = [make_rule("r1", channel="#alerts", escalation_policy_id="p1", escalate_after_seconds=60)]
    group = make_group(first_seen_at=at(0))
    [route] = [replace(r, escalation=plan_for(r.rule_id, rules, None, lookup)) for r in routes_for(group, rules, None)]
    [_, arming] = announce(group, [route])
    assert isinstance(arming, EscalationArmed)
    assert (arming.policy_id, arming.route, arming.due_at, arming.repeat) == ("p1", "r1", at(5), POLICY.repeat)
    assert arming.levels == POLICY.levels  # the policy wins over the rule's escalate_after


def test_the_default_route_arms_the_workspaces_policy():
    assert plan_for(None, [], WORKSPACE_WITH_POLICY, lookup) == EscalationPlan("p1", tuple(POLICY.levels), POLICY.repeat)
    assert plan_for(None, [], None, lookup) is None


def test_a_rule_without_a_policy_or_naming_a_deleted_one_keeps_its_escalate_after():
    for rule in (make_rule("r1", escalate_after_seconds=60), make_rule("r1", escalate_after_seconds=60,
                                                                        escalation_policy_id="gone")):
        assert plan_for("r1", [rule], WORKSPACE_WITH_POLICY, lookup) is None
        group = make_group(first_seen_at=at(0))
        [_, arming] = announce(group, routes_for(group, [rule], None))
        assert (arming.levels, arming.due_at) == ([], at(1))  # one level, as before policies


def test_a_reopen_arms_the_policy_again_from_now_unless_flapping():
    plan = EscalationPlan("p1", tuple(POLICY.levels), None)
    route = GroupRoute("#alerts", "r1", None, True)
    reopened = GroupReopened(group=make_group(status=GroupStatus.OPEN, reopen_count=1), flap_count=1, flapping=False)
    [_, arming] = follow_up(reopened, route, now=at(30), plan=plan, escalate_after=timedelta(minutes=1))
    assert arming.rearm and arming.due_at == at(35) and arming.policy_id == "p1"
    flapping = GroupReopened(group=make_group(status=GroupStatus.OPEN, reopen_count=5, flapping=True), flap_count=5, flapping=True)
    assert len(follow_up(flapping, route, now=at(30), plan=plan)) == 1
