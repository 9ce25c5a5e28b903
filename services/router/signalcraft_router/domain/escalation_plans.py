"""Which escalation a route arms (issue 10.1): the policy its rule names, or for the default route
the workspace's; a rule without a policy keeps its legacy `escalate_after` (one level, @here in its
own channel, armed as before). Looked up in the current configuration when a group is announced and
when a reopen or an unack arms it again, so a policy edited meanwhile applies from then on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from signalcraft_policies.escalation import first_deadline
from signalcraft_schemas.events import (
    EscalationArmed, EscalationLevel, EscalationPolicySaved, EscalationRepeat, GroupSnapshot, RoutingRuleSaved,
    WorkspaceConfigured,
)

DEFAULT_ROUTE = "default"
PolicyLookup = Callable[[str | None], EscalationPolicySaved | None]  # a policy id of the workspace -> its policy


@dataclass(frozen=True)
class EscalationPlan:
    policy_id: str
    levels: tuple[EscalationLevel, ...]
    repeat: EscalationRepeat | None


def plan_for(rule_id: str | None, rules: Sequence[RoutingRuleSaved], workspace: WorkspaceConfigured | None,
             policy: PolicyLookup) -> EscalationPlan | None:
    """The policy of the route of `rule_id` (None: the default route); None when it names none (or one
    since deleted), so the rule's legacy `escalate_after` applies."""
    if rule_id is None:
        policy_id = workspace.escalation_policy_id if workspace else None
    else:
        found = [rule for rule in rules if rule.rule_id == rule_id and rule.enabled]
        policy_id = found[0].escalation_policy_id if found else None
    chosen = policy(policy_id)
    return EscalationPlan(chosen.policy_id, tuple(chosen.levels), chosen.repeat) if chosen else None


def armed(plan: EscalationPlan, group: GroupSnapshot, channel: str, rule_id: str | None, runbook_url: str | None,
          since: datetime, rearm: bool = False) -> EscalationArmed:
    """The policy armed for one route of the group: its first level counts from `since` (the first
    notification, or the reopen that arms it again)."""
    return EscalationArmed(group=group, channel=channel, due_at=first_deadline(plan.levels, since), rule_id=rule_id,
                           runbook_url=runbook_url, rearm=rearm, policy_id=plan.policy_id, levels=list(plan.levels),
                           repeat=plan.repeat, route=rule_id or DEFAULT_ROUTE)
