"""NormalizedAlert: one alert from any provider, in one shape."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


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
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


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

    def with_time(self, occurred_at: datetime) -> "NormalizedAlert":
        return self.model_copy(update={"occurred_at": occurred_at})
