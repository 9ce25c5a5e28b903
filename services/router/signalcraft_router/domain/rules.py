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
    escalate_after_minutes: int | None
    mention_here: bool

    def escalation_due(self, opened_at: datetime) -> datetime | None:
        if self.escalate_after_minutes is None:
            return None
        return opened_at + timedelta(minutes=self.escalate_after_minutes)


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
            return Route(rule.channel, rule.rule_id, rule.runbook_url, rule.escalate_after_minutes, mention)
    if default_channel:
        return Route(default_channel, None, None, None, mention)
    return None
