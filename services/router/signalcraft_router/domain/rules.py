"""Routing rules: ordered, first match wins, the workspace's default channel otherwise.

A rule matches when every condition it sets holds: environment in its list, severity at least its
minimum, project in its list, every tag key=value present, source in its list. `@here` only for
high and critical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot, RoutingConditions, RoutingRuleSaved

HERE_SEVERITIES = {Severity.HIGH, Severity.CRITICAL}


@dataclass(frozen=True)
class Route:
    channel: str
    rule_id: str | None
    runbook_url: str | None
    escalate_after_minutes: float | None  # seconds resolution: 1.5 is 90 s
    mention_here: bool

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


def matches(conditions: RoutingConditions, group: GroupSnapshot) -> bool:
    if conditions.environments and group.environment not in {e.lower() for e in conditions.environments}:
        return False
    if conditions.min_severity is not None and not Severity(group.severity).at_least(conditions.min_severity):
        return False
    if conditions.projects and group.project not in conditions.projects:
        return False
    if any(group.tags.get(key) != value for key, value in conditions.tags.items()):
        return False
    if conditions.sources and group.source not in conditions.sources:
        return False
    return True


def route(group: GroupSnapshot, rules: Sequence[RoutingRuleSaved], default_channel: str | None) -> Route | None:
    """The first enabled rule (by position) that matches, else the default channel, else None."""
    mention = Severity(group.severity) in HERE_SEVERITIES
    for rule in sorted(rules, key=lambda r: (r.position, r.rule_id)):
        if rule.enabled and matches(rule.conditions, group):
            return Route(rule.channel, rule.rule_id, rule.runbook_url, escalate_after_minutes(rule), mention)
    if default_channel:
        return Route(default_channel, None, None, None, mention)
    return None
