"""Every event SignalCraft emits. Commands are imperative, events past tense."""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

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


class WebhooksThrottled(EventData):
    """Ingest refused webhooks of one integration over its rate limit (429) between `first_at` and
    `last_at`; delivery health counts them. Keyed `integration:<id>`; grouping ignores it."""

    TYPE = "webhooks.throttled"
    TOPIC = Topic.ALERTS_NORMALIZED
    integration_id: str
    count: int = Field(ge=1)
    first_at: AwareDatetime
    last_at: AwareDatetime


class WebhooksRejected(EventData):
    """Ingest refused webhooks of one known integration with `status` (401 bad signature or token, 400,
    413, 422) between `first_at` and `last_at`; delivery health counts them. Keyed `integration:<id>`;
    grouping ignores it."""

    TYPE = "webhooks.rejected"
    TOPIC = Topic.ALERTS_NORMALIZED
    integration_id: str
    status: int = Field(ge=400, le=499)
    count: int = Field(ge=1)
    first_at: AwareDatetime
    last_at: AwareDatetime


# --- groups.events -------------------------------------------------------------------------


class GroupStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class GroupAction(StrEnum):
    """What a GroupCommand asks for (groups.commands)."""

    ACK = "ack"
    UNACK = "unack"
    SNOOZE = "snooze"
    UNSNOOZE = "unsnooze"
    RESOLVE = "resolve"
    ASSIGN = "assign"  # assignee: who; None unassigns
    NOTE = "note"  # note: the text added to the group's timeline


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
    # Lifecycle (issue 9). Defaults keep events written before them decodable.
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    snoozed_until: AwareDatetime | None = Field(
        default=None, description="Set while snoozed; None with status snoozed means until unsnoozed")
    resolved_by: str | None = None
    resolved_at: AwareDatetime | None = None
    reopen_count: int = Field(default=0, ge=0, description="How often the group reopened after being resolved")
    flapping: bool = Field(default=False, description="Reopened too often lately: re-notifications are damped")
    is_test: bool = Field(default=False, description="Opened by a provider's test notification")
    assignee: str | None = None


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
    command_id: UUID | None = Field(default=None, description="The GroupCommand decided; None for a provider's ack")


class GroupUnacknowledged(EventData):
    TYPE = "group.unacknowledged"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    by: str
    command_id: UUID | None = None


class GroupSnoozed(EventData):
    TYPE = "group.snoozed"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    until: AwareDatetime | None = Field(description="None: until someone unsnoozes it (Sentry's ignore without a limit)")
    by: str
    command_id: UUID | None = None
    reason: str | None = None


class GroupUnsnoozed(EventData):
    """The snooze ended. Re-notify only when it fired during the snooze (fired_during_snooze > 0)."""

    TYPE = "group.unsnoozed"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    by: str
    command_id: UUID | None = None
    reason: Literal["manual", "expired"]
    fired_during_snooze: int = Field(default=0, ge=0, description="Alerts counted silently while snoozed")


class GroupResolved(EventData):
    TYPE = "group.resolved"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    reason: Literal["source_resolved", "quiet_timeout", "manual", "replaced"]
    by: str | None = Field(default=None, description="The actor of a manual resolve, or the provider")
    command_id: UUID | None = None


class GroupReopened(EventData):
    """A resolved group fired again within the dedup window of its last alert: same group, same message."""

    TYPE = "group.reopened"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    flap_count: int = Field(ge=1, description="Reopens within the flap window, this one included")
    flapping: bool = Field(description="More than the allowed reopens within the window: damp re-notifications")
    alerts_added: int = Field(default=1, ge=1)


class GroupSeverityRaised(EventData):
    """The workspace's severity bump raised the group one level: `alerts` of it within `within_seconds`
    in `environment` (issue 10.3). At most one raise per level; the raised severity stays for the group's life."""

    TYPE = "group.severity_raised"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot = Field(description="The group with its raised severity")
    from_severity: Severity
    to_severity: Severity
    reason: str = Field(description='e.g. "12 alerts within 5m in prod"')
    alerts: int = Field(ge=1)
    within_seconds: int = Field(ge=1)
    environment: str


class GroupAssigned(EventData):
    TYPE = "group.assigned"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    assignee: str | None = Field(description="None: unassigned")
    by: str
    command_id: UUID | None = Field(default=None, description="The GroupCommand decided; None for a provider's assign")


class GroupNoteAdded(EventData):
    """A person wrote a note on the group (API): its timeline shows it; the group's state is unchanged."""

    TYPE = "group.note_added"
    TOPIC = Topic.GROUPS_EVENTS
    group: GroupSnapshot
    note_id: UUID = Field(description="The id of the command that added it")
    text: str = Field(min_length=1, max_length=4000)
    by: str
    command_id: UUID | None = None


class SlackReply(BaseModel):
    """Where to answer the person who clicked: Slack's response_url (ephemeral reply), channel and user."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    response_url: str
    channel: str | None = None
    user: str | None = None


class GroupCommandRejected(EventData):
    """A command that changes nothing (late, repeated, or about an unknown group), with the reason why."""

    TYPE = "group.command_rejected"
    TOPIC = Topic.GROUPS_EVENTS
    command_id: UUID
    group_id: UUID
    group_key: str
    action: GroupAction
    reason: str = Field(description="already_resolved, unknown_group, not_acknowledged, not_snoozed, ...")
    by: str
    group: GroupSnapshot | None = Field(default=None, description="The group as it stands; None if unknown")
    reply_to: SlackReply | None = None


# --- groups.commands -----------------------------------------------------------------------


SNOOZE_EXPIRED_ACTOR = "system:snooze_expired"  # the escalator's snooze timer, asking to unsnooze


class GroupCommand(EventData):
    """A person (Slack, API), a provider or a timer asks to change a group's state; grouping decides."""

    TYPE = "group.command"
    TOPIC = Topic.GROUPS_COMMANDS
    command_id: UUID
    group_id: UUID
    group_key: str
    action: GroupAction
    actor: str = Field(description='"slack:<team>/<user>", "api:<token name>", "provider:pagerduty", "system:snooze_expired"')
    snooze_until: AwareDatetime | None = Field(default=None, description="Required for snooze")
    reason: str | None = None
    reply_to: SlackReply | None = None
    assignee: str | None = Field(default=None, max_length=200, description="assign: who; None unassigns")
    note: str | None = Field(default=None, max_length=4000, description="note: its text (required for note)")

    @model_validator(mode="after")
    def _snooze_has_an_end(self) -> "GroupCommand":
        if self.action is GroupAction.SNOOZE and self.snooze_until is None:
            raise ValueError("snooze needs snooze_until")
        if self.action is GroupAction.NOTE and not (self.note or "").strip():
            raise ValueError("note needs its text")
        return self


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
    STATE_CHANGED = "state_changed"  # rewrite the message in place: state, who, when, count, last seen, flaps
    REOPENED = "reopened"  # rewrite + thread reply "reopened, flap n" (no @here when flapping)
    SNOOZE_EXPIRED = "snooze_expired"  # thread reply: the snooze ended and it fired meanwhile
    COMMAND_REJECTED = "command_rejected"  # ephemeral answer to the person, through reply_to
    SEVERITY_RAISED = "severity_raised"  # thread reply broadcast "severity raised to high: <reason>" + rewrite


class LinkButton(BaseModel):
    """A quick action as filled for one group: the URL button shown in its message."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str
    url: str


# NotificationRequested.reason of a first message on a route a group gained when the severity bump
# raised it (issue 10.3): the group already has its message in another channel, which stays its original.
ADDED_ROUTE_REASON = "severity_raised"


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
    actor: str | None = Field(default=None, description="Who caused a state change (ack, snooze, resolve...)")
    reason: str | None = Field(default=None, description="Why: a rejection's reason, a resolve's or unsnooze's reason")
    command_id: UUID | None = None
    reply_to: SlackReply | None = Field(default=None, description="COMMAND_REJECTED: answer the clicker here")
    flap_count: int | None = Field(default=None, description="REOPENED: reopens within the flap window")
    fired_during_snooze: int | None = Field(default=None, description="SNOOZE_EXPIRED: alerts while snoozed")
    mention_usergroup: str | None = Field(default=None, description="A Slack user group id (S...) mentioned where "
                                                                    "@here would be")
    link_buttons: list[LinkButton] = Field(default_factory=list, description="The rule's quick actions, filled")
    escalation_targets: list[str] = Field(default_factory=list, description="ESCALATION: who the level notifies, "
                                          "as Slack mentions (<@U…>, <!subteam^S…>) and channels; on-call resolved")
    group_channel: str | None = Field(default=None, description="ESCALATION posted in a target channel of its own: "
                                      "the channel of the group's message, which it links")


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


class EscalationLevel(BaseModel):
    """Notify `targets` once `after_seconds` passed without an ack: counted from the group's first
    notification for the first level, from the previous level's deadline for the others. A target is a
    channel (`#name` or `C…`), a user `<@U…>`, a user group `<!subteam^S…>` or `schedule:<id>` (whoever
    is on call in that schedule when the level fires)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    after_seconds: int = Field(ge=1)
    targets: list[str] = Field(min_length=1)


class EscalationRepeat(BaseModel):
    """Notify the last level again every `every_seconds`, up to `times` times."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    every_seconds: int = Field(ge=1)
    times: int = Field(ge=1)


class EscalationArmed(EventData):
    TYPE = "escalation.armed"
    TOPIC = Topic.ESCALATIONS
    group: GroupSnapshot
    channel: str
    due_at: AwareDatetime
    rule_id: str | None = None
    runbook_url: str | None = None
    rearm: bool = Field(default=False, description="Arm again even if an earlier escalation of the group fired or "
                                                   "was cancelled (a reopen, an unack, a snooze that expired while firing)")
    # Escalation policies (issue 10.1). Without levels: one level, @here in `channel`, at due_at.
    policy_id: str | None = None
    levels: list[EscalationLevel] = Field(default_factory=list, description="due_at is the first level's deadline; "
                                          "each later level's `after` counts from the previous level's deadline")
    repeat: EscalationRepeat | None = None
    route: str | None = Field(default=None, description="Which of the group's routes armed it (its rule id, or "
                                                        "'default'): one escalation per group and route")


class EscalationCancelled(EventData):
    """A pending escalation will not fire: the group was acknowledged, snoozed or resolved."""

    TYPE = "escalation.cancelled"
    TOPIC = Topic.ESCALATIONS
    group_id: UUID
    group_key: str
    by: str | None = Field(description="Who caused it (the ack's or snooze's actor)")
    reason: str = Field(description="The group event that cancelled it: acknowledged, snoozed, resolved")


class EscalationFired(EventData):
    TYPE = "escalation.fired"
    TOPIC = Topic.ESCALATIONS
    group_id: UUID
    group_key: str
    channel: str
    level: int = Field(ge=1)
    repeat: int = Field(default=0, ge=0, description="0 for the level itself, n for its n-th repeat")
    targets: list[str] = Field(default_factory=list, description="Who was notified, on-call schedules resolved")
    policy_id: str | None = None


# --- config (compacted, keyed by entity id) ------------------------------------------------


class SeverityBump(BaseModel):
    """Severity bump (issue 10.3): `count` alerts of one group within `within_seconds` in one of
    `environments` raise the group's severity one level."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    count: int = Field(ge=2)
    within_seconds: int = Field(ge=1)
    environments: list[str] = Field(default_factory=lambda: ["prod"], min_length=1)


class WorkspaceConfigured(EventData):
    TYPE = "config.workspace"
    TOPIC = Topic.CONFIG
    workspace_id: str
    name: str
    dedup_window_minutes: int = Field(default=60, ge=1)
    auto_close_minutes: int = Field(default=24 * 60, ge=1)
    default_channel: str | None = None
    # Seconds resolution (issue 9.7): when set, these win over the minute fields above.
    dedup_window_seconds: int | None = Field(default=None, ge=1)
    auto_close_seconds: int | None = Field(default=None, ge=1)
    # Flapping: more than flap_threshold reopens within flap_window_seconds damp re-notifications
    # until the group has been quiet for flap_quiet_seconds.
    flap_threshold: int = Field(default=3, ge=1)
    flap_window_seconds: int = Field(default=3600, ge=1)
    flap_quiet_seconds: int = Field(default=1800, ge=1)
    severity_bump: SeverityBump | None = Field(default=None, description="None: no severity bump")
    escalation_policy_id: str | None = Field(default=None, description="The default route's escalation policy")

    @property
    def dedup_window(self) -> timedelta:
        return timedelta(seconds=self.dedup_window_seconds or self.dedup_window_minutes * 60)

    @property
    def auto_close_after(self) -> timedelta:
        return timedelta(seconds=self.auto_close_seconds or self.auto_close_minutes * 60)


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
    # A rotated secret stays valid until its grace period ends, so senders can be switched over.
    previous_secret_encrypted: str | None = Field(default=None, description="The secret before the last rotation")
    previous_secret_valid_until: AwareDatetime | None = Field(default=None, description="End of its grace period")
    deleted_at: AwareDatetime | None = Field(default=None, description="Deleted: webhooks are answered 410 (the "
                                             "record stays on the compacted topic as the tombstone ingest reads)")


class SlackConnected(EventData):
    TYPE = "config.slack"
    TOPIC = Topic.CONFIG
    workspace_id: str
    bot_token_encrypted: str
    signing_secret_encrypted: str
    team_id: str | None = None


class SlackDisconnected(EventData):
    """The workspace's Slack connection was removed: nothing is posted for it until it connects again."""

    TYPE = "config.slack_disconnected"
    TOPIC = Topic.CONFIG
    workspace_id: str


class RoutingConditions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    environments: list[str] = Field(default_factory=list, description="Any of these; empty = any")
    min_severity: Severity | None = None
    projects: list[str] = Field(default_factory=list, description="Any of these; empty = any")
    tags: dict[str, str] = Field(default_factory=dict, description="All of these key=value")
    sources: list[str] = Field(default_factory=list, description="Any of these; empty = any")
    tag_keys: list[str] = Field(default_factory=list, description="All of these tag keys present, any value")
    matchers: list[str] = Field(default_factory=list, description=(
        'Alertmanager-style, all must hold: field or tag, then =, !=, =~ or !~ (anchored regex), then the value, '
        'e.g. severity=~"high|critical", team!="db", tag.region=~"eu-.*"'))


class QuickAction(BaseModel):
    """A URL button a rule adds to its messages; the template is filled from the group (URL-encoded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str = Field(min_length=1, max_length=75)
    url_template: str = Field(description="http(s) URL; may use {group_id} {project} {environment} {source} "
                                          "{fingerprint} {title} {tag.<key>}")


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
    escalate_after_seconds: int | None = Field(default=None, ge=1, description="Wins over escalate_after_minutes")
    continue_matching: bool = Field(default=False, description="Alertmanager's `continue`: a match does not stop "
                                                               "evaluation; the group also goes to later matches")
    mention: str = Field(default="here_for_high", description="none | here_for_high | usergroup:<S...>")
    quick_actions: list[QuickAction] = Field(default_factory=list)
    escalation_policy_id: str | None = Field(default=None, description="Wins over escalate_after")

    @property
    def escalate_after(self) -> timedelta | None:
        if self.escalate_after_seconds:
            return timedelta(seconds=self.escalate_after_seconds)
        return timedelta(minutes=self.escalate_after_minutes) if self.escalate_after_minutes else None


class RoutingRuleDeleted(EventData):
    TYPE = "config.routing_rule_deleted"
    TOPIC = Topic.CONFIG
    rule_id: str
    workspace_id: str


class EscalationPolicySaved(EventData):
    TYPE = "config.escalation_policy"
    TOPIC = Topic.CONFIG
    policy_id: str
    workspace_id: str
    name: str
    levels: list[EscalationLevel] = Field(min_length=1)
    repeat: EscalationRepeat | None = None


class EscalationPolicyDeleted(EventData):
    TYPE = "config.escalation_policy_deleted"
    TOPIC = Topic.CONFIG
    policy_id: str
    workspace_id: str


class ScheduleOverride(BaseModel):
    """`user` is on call instead of the rotation from `start` until `end`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    user: str
    start: AwareDatetime
    end: AwareDatetime


class ScheduleSaved(EventData):
    """An on-call rotation: `users` take turns, each for `shift_seconds` of wall-clock time in `time_zone`,
    the first from `start_date` at `handoff_time` (local). Overrides win, a later one over an earlier one."""

    TYPE = "config.schedule"
    TOPIC = Topic.CONFIG
    schedule_id: str
    workspace_id: str
    name: str
    users: list[str] = Field(min_length=1, description="Slack users, <@U…>, in rotation order")
    time_zone: str = Field(description="IANA zone, e.g. Europe/Berlin")
    start_date: date
    handoff_time: time = Field(description="Local wall-clock time of each handoff")
    shift_seconds: int = Field(ge=60, description="86400 daily, 604800 weekly, or any custom length")
    overrides: list[ScheduleOverride] = Field(default_factory=list)


class ScheduleDeleted(EventData):
    TYPE = "config.schedule_deleted"
    TOPIC = Topic.CONFIG
    schedule_id: str
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
        AlertNormalized, WebhooksThrottled, GroupOpened, GroupUpdated, GroupAcknowledged, GroupResolved, CloseQuietGroup,
        GroupUnacknowledged, GroupSnoozed, GroupUnsnoozed, GroupReopened, GroupAssigned, GroupCommandRejected,
        GroupCommand, GroupSeverityRaised, NotificationRequested, NotificationDelivered, NotificationFailed, EscalationArmed,
        EscalationFired, EscalationCancelled,
        WorkspaceConfigured, IntegrationConfigured, SlackConnected, RoutingRuleSaved, RoutingRuleDeleted,
        MessageDeadLettered,
        EscalationPolicySaved, EscalationPolicyDeleted, ScheduleSaved, ScheduleDeleted,
        SlackDisconnected,
        WebhooksRejected, GroupNoteAdded,
    )
}
