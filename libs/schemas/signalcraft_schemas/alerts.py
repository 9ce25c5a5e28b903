"""NormalizedAlert: one alert from any provider, in one shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


# Providers ingest can receive from; the config API accepts integrations of these only.
SOURCES = ("sentry", "alertmanager", "grafana", "datadog", "cloudwatch", "pagerduty")


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Severity") -> bool:
        return self.rank >= other.rank


_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


class AlertStatus(StrEnum):
    """What the provider says about the problem. Only FIRING is a new occurrence; the others are signals
    about the group it belongs to (PagerDuty acknowledge, Sentry issue.ignored / issue.assigned, resolves)."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"  # Sentry issue.ignored: until `snoozed_until`, or until unsnoozed when None
    ASSIGNED = "assigned"  # Sentry issue.assigned: `assignee` (None = unassigned)


# NUL and the other C0 controls (tab, newline and carriage return excepted) and DEL: PostgreSQL's text and
# JSONB refuse NUL, and none of them means anything in a title or a tag. Removed, so that an alert accepted
# with a 2xx can always be stored and shown downstream.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def clean_text(value: str) -> str:
    """`value` without control characters (see above); the same object when it has none."""
    return _CONTROL_CHARACTERS.sub("", value) if _CONTROL_CHARACTERS.search(value) else value


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def storable_time(value: datetime) -> datetime:
    """`value` as sent when it lies within 1970..9999 in UTC, else the nearest end of that range:
    `9999-12-31T23:59:59-23:59` is year 10000 in UTC, which PostgreSQL stores and Python cannot read back."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        return _LATEST if value.year > 1970 else _EARLIEST
    return value if _EARLIEST <= utc <= _LATEST else min(max(utc, _EARLIEST), _LATEST)


class NormalizedAlert(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="Provider that sent it: sentry, alertmanager, grafana, datadog, cloudwatch, pagerduty")
    source_event_id: str = Field(min_length=1, description="The provider's id for this occurrence")
    project: str = Field(min_length=1, description="Service or project the alert is about")
    environment: str = Field(min_length=1, description="Normalized: prod, staging, dev, test, or the name as sent")
    severity: Severity
    fingerprint: str = Field(min_length=1, description="Stable identity of the problem, as the provider groups it")
    title: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    occurred_at: AwareDatetime
    link: str | None = Field(default=None, description="Deep link back to the provider")
    status: AlertStatus = AlertStatus.FIRING
    is_test: bool = Field(default=False, description="A provider's test notification")
    snoozed_until: AwareDatetime | None = Field(default=None, description="status snoozed: until when (None = no limit)")
    assignee: str | None = Field(default=None, description="status assigned: who (None = unassigned)")

    @field_validator("title", "description", "link", "tags", mode="before")
    @classmethod
    def _without_control_characters(cls, value: Any) -> Any:
        return _clean(value)

    @field_validator("source_event_id", "project", "environment", "fingerprint", mode="before")
    @classmethod
    def _identity_without_control_characters(cls, value: Any) -> Any:
        # A value that was nothing but control characters still names something: keep a visible mark
        # rather than refusing, after a provider's payload was accepted, an alert for an empty field.
        cleaned = _clean(value)
        return "\ufffd" if cleaned == "" and value != "" else cleaned

    @field_validator("occurred_at", mode="after")
    @classmethod
    def _storable_time(cls, value: datetime) -> datetime:
        return storable_time(value)

    def with_time(self, occurred_at: datetime) -> "NormalizedAlert":
        return self.model_copy(update={"occurred_at": occurred_at})
