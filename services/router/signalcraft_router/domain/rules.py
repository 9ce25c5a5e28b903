"""The router's side of routing: which rules match is signalcraft_policies.routing (shared with the
API that explains and simulates); here each route becomes what the router announces and stores, with
its mention resolved for the group and its escalation delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from signalcraft_policies.routing import RuleRoute, matches, mention_for, routes
from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot, QuickAction, RoutingRuleSaved

from .escalation_plans import EscalationPlan

__all__ = ["Route", "escalate_after_minutes", "escalation_delay", "matches", "route", "routes_for"]

DEFAULT_MENTION = "here_for_high"


@dataclass(frozen=True)
class Route:
    channel: str
    rule_id: str | None
    runbook_url: str | None
    escalate_after_minutes: float | None  # seconds resolution: 1.5 is 90 s
    mention_here: bool
    mention_usergroup: str | None = None
    quick_actions: tuple[QuickAction, ...] = ()
    escalation: EscalationPlan | None = None  # the route's escalation policy; None: escalate_after, if any

    def escalation_due(self, opened_at: datetime) -> datetime | None:
        if self.escalate_after_minutes is None:
            return None
        return opened_at + timedelta(minutes=self.escalate_after_minutes)


def escalate_after_minutes(rule: RoutingRuleSaved) -> float | None:
    after = rule.escalate_after
    return after.total_seconds() / 60 if after is not None else None


def escalation_delay(rules: Sequence[RoutingRuleSaved], rule_id: str | None) -> timedelta | None:
    """The current escalation delay of the rule a group was routed by (re-arming after a reopen)."""
    found = [rule for rule in rules if rule.rule_id == rule_id and rule.enabled]
    return found[0].escalate_after if found else None


def _route(chosen: RuleRoute, severity: Severity) -> Route:
    mention = mention_for(chosen.rule.mention if chosen.rule else DEFAULT_MENTION, severity)
    minutes = escalate_after_minutes(chosen.rule) if chosen.rule else None
    return Route(chosen.channel, chosen.rule_id, chosen.runbook_url, minutes, mention.here, mention.usergroup,
                 chosen.quick_actions)


def routes_for(group: GroupSnapshot, rules: Sequence[RoutingRuleSaved], default_channel: str | None) -> list[Route]:
    """Every route of a group, in rule order (fan-out with `continue`); [] when nothing routes it."""
    return [_route(chosen, group.severity) for chosen in routes(group, rules, default_channel)]


def route(group: GroupSnapshot, rules: Sequence[RoutingRuleSaved], default_channel: str | None) -> Route | None:
    """The group's first route (the only one unless a matching rule continues), else None."""
    found = routes_for(group, rules, default_channel)
    return found[0] if found else None
