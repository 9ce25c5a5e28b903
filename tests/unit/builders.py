"""Small builders for domain-test inputs: fixed, timezone-aware UTC times; override any field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity
from signalcraft_schemas.events import (
    GroupSnapshot, GroupStatus, NotificationKind, NotificationRequested, RoutingConditions, RoutingRuleSaved,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WORKSPACE = "ws-1"
GROUP_KEY = "ws-1:sentry:checkout:prod:fp-1"
GROUP_ID = UUID("00000000-0000-7000-8000-000000000001")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def at(offset_minutes: float) -> datetime:
    """T0 plus a number of minutes."""
    return T0 + minutes(offset_minutes)


def gid(n: int) -> UUID:
    """A deterministic group id: gid(1) == GROUP_ID."""
    return UUID(f"00000000-0000-7000-8000-{n:012d}")


def make_alert(**overrides: Any) -> NormalizedAlert:
    fields: dict[str, Any] = {
        "source": "sentry",
        "source_event_id": "evt-1",
        "project": "checkout",
        "environment": "prod",
        "severity": Severity.HIGH,
        "fingerprint": "fp-1",
        "title": "TimeoutError in /pay",
        "description": "upstream timed out",
        "tags": {"team": "payments"},
        "occurred_at": T0,
        "link": "https://sentry.example/issues/1",
        "status": AlertStatus.FIRING,
    }
    fields.update(overrides)
    return NormalizedAlert(**fields)


def make_group(**overrides: Any) -> GroupSnapshot:
    fields: dict[str, Any] = {
        "group_id": GROUP_ID,
        "group_key": GROUP_KEY,
        "source": "sentry",
        "project": "checkout",
        "environment": "prod",
        "fingerprint": "fp-1",
        "title": "TimeoutError in /pay",
        "description": "upstream timed out",
        "severity": Severity.HIGH,
        "status": GroupStatus.OPEN,
        "count": 1,
        "first_seen_at": T0,
        "last_seen_at": T0,
        "link": "https://sentry.example/issues/1",
        "tags": {"team": "payments"},
    }
    fields.update(overrides)
    return GroupSnapshot(**fields)


def make_rule(rule_id: str = "r1", *, position: int = 1, channel: str = "#alerts", **overrides: Any) -> RoutingRuleSaved:
    conditions = overrides.pop("conditions", {})
    fields: dict[str, Any] = {
        "rule_id": rule_id,
        "workspace_id": WORKSPACE,
        "name": f"rule {rule_id}",
        "position": position,
        "conditions": conditions if isinstance(conditions, RoutingConditions) else RoutingConditions(**conditions),
        "channel": channel,
    }
    fields.update(overrides)
    return RoutingRuleSaved(**fields)


def make_request(**overrides: Any) -> NotificationRequested:
    fields: dict[str, Any] = {
        "kind": NotificationKind.NEW_GROUP,
        "group": make_group(),
        "channel": "#alerts",
        "mention_here": False,
        "runbook_url": None,
        "rule_id": "r1",
    }
    fields.update(overrides)
    return NotificationRequested(**fields)
