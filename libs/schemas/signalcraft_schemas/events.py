"""Every event SignalCraft emits. Commands are imperative, events past tense."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from .alerts import NormalizedAlert, Severity
from .envelope import EventData
from .topics import Topic

# --- alerts.normalized ---------------------------------------------------------------------


class AlertNormalized(EventData):
    """Ingest accepted a webhook and turned it into an alert (one webhook may carry several)."""

    TYPE = "alert.normalized"
    TOPIC = Topic.ALERTS_NORMALIZED
    alert: NormalizedAlert
    group_key: str
    integration_id: str
    delivery_id: str = Field(description="The stored raw webhook this alert came from")


# --- groups.events -------------------------------------------------------------------------


class GroupStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class GroupSnapshot(BaseModel):
    """The alert group as it stands after the event; consumers need no other state to act."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    group_id: UUID
    group_key: str
    source: str
    project: str
    environment: str
    fingerprint: str
    title: str
    description: str = ""
    severity: Severity
    status: GroupStatus
    count: int = Field(ge=1)
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    link: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class GroupOpened(EventData):
    TYPE = "group.opened"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot


class GroupUpdated(EventData):
    """More alerts joined the group (count, last_seen, possibly a higher severity)."""

    TYPE = "group.updated"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    alerts_added: int = Field(ge=1)


class GroupAcknowledged(EventData):
    TYPE = "group.acknowledged"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    by: str = Field(description="Who acknowledged: the source (e.g. pagerduty) or a user")


class GroupResolved(EventData):
    TYPE = "group.resolved"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    reason: Literal["source_resolved", "quiet_timeout", "manual"]


# --- groups.commands -----------------------------------------------------------------------


class CloseQuietGroup(EventData):
    """Escalator: this group has been quiet past the workspace's auto-close window."""

    TYPE = "group.close_quiet"
    TOPIC = Topic.GROUPS_COMMANDS
    group_id: UUID
    group_key: str
    quiet_since: AwareDatetime


# --- notifications -------------------------------------------------------------------------


class NotificationKind(StrEnum):
    NEW_GROUP = "new_group"
    UPDATED = "updated"  # the original message rewritten: new count, severity, last seen
    RESOLVED = "resolved"
    ESCALATION = "escalation"


class NotificationRequested(EventData):
    TYPE = "notification.requested"
    TOPIC = Topic.NOTIFICATIONS_REQUESTED
    kind: NotificationKind
    group: GroupSnapshot
    channel: str
    mention_here: bool = False
    runbook_url: str | None = None
    rule_id: str | None = Field(default=None, description="The routing rule that matched; None for the default channel")
    escalation_level: int = 0


class NotificationDelivered(EventData):
    TYPE = "notification.delivered"
    TOPIC = Topic.NOTIFICATIONS_RESULTS
    request_id: UUID
    kind: NotificationKind
    group_id: UUID
    channel: str
    message_ts: str
    attempts: int = Field(ge=1)
    latency_ms: float = Field(ge=0, description="From webhook receipt to Slack's answer")


class NotificationFailed(EventData):
    """A visible failure: a notification that will not be delivered (or could not be routed)."""

    TYPE = "notification.failed"
    TOPIC = Topic.NOTIFICATIONS_RESULTS
    request_id: UUID | None
    kind: NotificationKind
    group_id: UUID
    channel: str | None
    error: str = Field(description="Slack's error code (channel_not_found, invalid_auth...) or no_route, no_slack")
    attempts: int = Field(ge=0)


# --- escalations ---------------------------------------------------------------------------


class EscalationArmed(EventData):
    TYPE = "escalation.armed"
    TOPIC = Topic.ESCALATIONS
    group: GroupSnapshot
    channel: str
    due_at: AwareDatetime
    rule_id: str | None = None
    runbook_url: str | None = None


class EscalationFired(EventData):
    TYPE = "escalation.fired"
    TOPIC = Topic.ESCALATIONS
    group_id: UUID
    group_key: str
    channel: str
    level: int = Field(ge=1)


# --- config (compacted, keyed by entity id) ------------------------------------------------


class WorkspaceConfigured(EventData):
    TYPE = "config.workspace"
    TOPIC = Topic.CONFIG
    workspace_id: str
    name: str
    dedup_window_minutes: int = Field(default=60, ge=1)
    auto_close_minutes: int = Field(default=24 * 60, ge=1)
    default_channel: str | None = None


class IntegrationConfigured(EventData):
    """A webhook source. `secret_encrypted` is Fernet ciphertext; only services with the key read it."""

    TYPE = "config.integration"
    TOPIC = Topic.CONFIG
    integration_id: str
    workspace_id: str
    provider: str
    name: str
    secret_encrypted: str
    enabled: bool = True
    options: dict[str, str] = Field(default_factory=dict)


class SlackConnected(EventData):
    TYPE = "config.slack"
    TOPIC = Topic.CONFIG
    workspace_id: str
    bot_token_encrypted: str
    signing_secret_encrypted: str
    team_id: str | None = None


class RoutingConditions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    environments: list[str] = Field(default_factory=list, description="Any of these; empty = any")
    min_severity: Severity | None = None
    projects: list[str] = Field(default_factory=list, description="Any of these; empty = any")
    tags: dict[str, str] = Field(default_factory=dict, description="All of these key=value")
    sources: list[str] = Field(default_factory=list, description="Any of these; empty = any")


class RoutingRuleSaved(EventData):
    TYPE = "config.routing_rule"
    TOPIC = Topic.CONFIG
    rule_id: str
    workspace_id: str
    name: str
    position: int = Field(description="Rules are evaluated by ascending position; first match wins")
    conditions: RoutingConditions
    channel: str
    runbook_url: str | None = None
    escalate_after_minutes: int | None = Field(default=None, ge=1)
    enabled: bool = True


class RoutingRuleDeleted(EventData):
    TYPE = "config.routing_rule_deleted"
    TOPIC = Topic.CONFIG
    rule_id: str
    workspace_id: str


# --- deadletter ----------------------------------------------------------------------------


class MessageDeadLettered(EventData):
    TYPE = "message.deadlettered"
    TOPIC = Topic.DEADLETTER
    consumer: str
    topic: str
    partition: int
    offset: int
    original_key: str | None
    original_type: str | None
    error: str
    payload: str = Field(description="The original bytes, UTF-8 with replacement")


EVENT_TYPES: dict[str, type[EventData]] = {
    model.TYPE: model
    for model in (
        AlertNormalized, GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved, CloseQuietGroup,
        NotificationRequested, NotificationDelivered, NotificationFailed, EscalationArmed, EscalationFired,
        WorkspaceConfigured, IntegrationConfigured, SlackConnected, RoutingRuleSaved, RoutingRuleDeleted,
        MessageDeadLettered,
    )
}
