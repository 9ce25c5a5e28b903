"""query-api's handlers: one function per consumed event (the read-model projection), per admin
command (configuration) and per read that needs more than a query.

Projection: `project` hands each event of a batch to the projector for its type, which writes the
event's read-model rows through the repository. Alerts and timeline entries are collected in a
`ProjectionBatch` and written once per batch (alerts are the hot path). Replaying topics rebuilds
the read models.

Configuration: this service owns configuration. Each write updates its table and appends the config
event to the outbox in one transaction; the relay publishes it to the compacted `config` topic that
ingest, grouping, router, notifier and escalator read. Secrets are encrypted before they are stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.crypto import SecretBox
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.service import Service
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, new_event_id
from signalcraft_schemas.events import (
    AlertNormalized, EscalationArmed, EscalationCancelled, EscalationFired, EventData, GroupAcknowledged,
    GroupAssigned, GroupCommand, GroupCommandRejected, GroupOpened, GroupReopened, GroupResolved, GroupSeverityRaised,
    GroupSnoozed, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, MessageDeadLettered, NotificationDelivered,
    NotificationFailed, NotificationRequested, WebhooksThrottled,
)

from .domain.commands import CommandRequest, UnknownGroup, group_command
from .domain.config import (
    SECRET_IDENTIFIES, ConfigChange, NewIntegration, NotPublished, RuleDefinition, RuleInAnotherWorkspace,
    SecretInUse, SlackCredentials, UnknownRule, UnknownWorkspace, WorkspaceSettings, check_integration,
    integration_configured, integration_receipt, rule_deleted, rule_saved, secret_fingerprint, slack_connected,
    workspace_configured,
)
from .domain.escalation_config import (
    InAnotherWorkspace, PolicyDefinition, ScheduleDefinition, UnknownPolicy, UnknownSchedule, handoffs_answer,
    on_call_answer, policies_naming_schedule, policy_deleted, policy_saved, schedule_deleted, schedule_saved,
)
from .domain.projection import (
    ProjectionBatch, alert_row, command_outcome_row, dead_letter_row, group_route, group_row,
    notification_requested_row, notification_result_row, throttled_activity, timeline_entry, webhook_activity,
)
from .domain.read_views import overview
from .repository.commands import CommandRows
from .repository.config import ConfigRepository
from .repository.escalation import EscalationConfigRows
from .repository.projection import ReadModelWriter
from .repository.read_queries import ReadQueries

log = get_logger(__name__)

# --- projection: consumed events -> read models --------------------------------------------

Projector = Callable[[ReadModelWriter, ProjectionBatch, Envelope[Any]], Awaitable[None]]


async def on_alert_normalized(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    batch.alerts.append(alert_row(env))


async def on_group_event(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """Opened, updated, acknowledged, snoozed, reopened, resolved...: the group's row as the event
    shows it, and the outcome of the command it answers, if any."""
    await read_models.upsert_group(group_row(env))
    outcome = command_outcome_row(env)
    if outcome is not None:
        await read_models.record_command_outcome(outcome)
    batch.timeline.append(timeline_entry(env))


async def on_command_rejected(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """A command that changed nothing: its outcome (for `?wait=true`) and a line in the timeline."""
    await read_models.record_command_outcome(command_outcome_row(env))  # type: ignore[arg-type]
    batch.timeline.append(timeline_entry(env))


async def on_notification_requested(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.insert_notification(notification_requested_row(env))
    route = group_route(env.data)
    if route is not None:
        await read_models.route_group(env.data.group.group_id, route)
    batch.timeline.append(timeline_entry(env))


async def on_notification_delivered(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.upsert_notification_result(notification_result_row(env))
    await read_models.mark_group_notified(env.data.group_id, env.occurred_at)
    batch.timeline.append(timeline_entry(env))


async def on_notification_failed(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.upsert_notification_result(notification_result_row(env))
    batch.timeline.append(timeline_entry(env))


async def on_escalation(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """Armed or fired: a line in the group's timeline, nothing else."""
    batch.timeline.append(timeline_entry(env))


async def on_dead_letter(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.insert_dead_letter(dead_letter_row(env))


async def on_webhooks_throttled(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.add_throttled(throttled_activity(env))


PROJECTORS: dict[type[EventData], Projector] = {
    AlertNormalized: on_alert_normalized,
    GroupOpened: on_group_event, GroupUpdated: on_group_event,
    GroupAcknowledged: on_group_event, GroupResolved: on_group_event,
    GroupReopened: on_group_event, GroupUnacknowledged: on_group_event, GroupSnoozed: on_group_event,
    GroupUnsnoozed: on_group_event, GroupAssigned: on_group_event, GroupCommandRejected: on_command_rejected,
    GroupSeverityRaised: on_group_event,
    NotificationRequested: on_notification_requested,
    NotificationDelivered: on_notification_delivered, NotificationFailed: on_notification_failed,
    EscalationArmed: on_escalation, EscalationFired: on_escalation, EscalationCancelled: on_escalation,
    MessageDeadLettered: on_dead_letter, WebhooksThrottled: on_webhooks_throttled,
}  # any other event on the consumed topics has no read model


async def project(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
    """The consumer's batch handler: every event through its projector, then the batched writes."""
    read_models = ReadModelWriter(uow)
    batch = ProjectionBatch()
    for env in envelopes:
        projector = PROJECTORS.get(type(env.data))
        if projector is not None:
            await projector(read_models, batch, env)
    await read_models.insert_alerts(batch.alerts)
    await read_models.insert_timeline(batch.timeline)
    await read_models.add_webhook_activity(webhook_activity(batch.alerts))


# --- reads that need more than a query -------------------------------------------------------


async def dashboard_overview(queries: ReadQueries, workspace_id: str, window_hours: int) -> dict[str, Any]:
    counts = await queries.overview_counts(workspace_id, since=utcnow() - timedelta(hours=window_hours))
    return overview(counts, window_hours)


# --- commands on a group ---------------------------------------------------------------------

COMMAND_POLL_S = 0.1


async def send_group_command(service: Service, group_id: uuid.UUID, request: CommandRequest) -> GroupCommand:
    """The command goes to groups.commands through the outbox, keyed by the group's key; grouping decides."""
    now = utcnow()
    async with service.uow() as uow:
        group = await CommandRows(uow.connection).group_ref(group_id)
        if group is None:
            raise UnknownGroup("no such alert group")
        command = group_command(group, request, now=now, command_id=new_event_id())
        uow.emit(Envelope.wrap(command, workspace_id=group.workspace_id, key=group.group_key,
                               correlation_id=f"api:{command.command_id}", occurred_at=now))
        await uow.commit()
    return command


async def command_outcome(service: Service, command_id: uuid.UUID, timeout_s: float) -> dict[str, Any] | None:
    """Grouping's answer as the read model shows it, waiting at most `timeout_s`; None if not there by then."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        async with service.engine.connect() as conn:
            outcome = await CommandRows(conn).outcome(command_id)
        if outcome is not None or asyncio.get_running_loop().time() >= deadline:
            return outcome
        await asyncio.sleep(COMMAND_POLL_S)


# --- configuration commands ------------------------------------------------------------------


class SecretKeyMissing(RuntimeError):
    pass


async def create_workspace(service: Service, workspace_id: str | None, settings: WorkspaceSettings) -> dict[str, Any]:
    return await save_workspace(service, workspace_id or f"ws-{secrets.token_hex(4)}", settings)


async def save_workspace(service: Service, workspace_id: str, settings: WorkspaceSettings) -> dict[str, Any]:
    change = workspace_configured(workspace_id, settings)
    async with service.uow() as uow:
        await ConfigRepository(uow.connection).save_workspace(change.event)
        await _commit(uow, change, utcnow())
    return await _published(service, change.event.model_dump())


async def add_integration(service: Service, new: NewIntegration, public_ingest_url: str) -> dict[str, Any]:
    """Returns the webhook URL and the secret, once; afterwards the secret is stored encrypted only."""
    check_integration(new)
    async with service.uow() as uow:
        repo = ConfigRepository(uow.connection)
        await _require_workspace(repo, new.workspace_id)
        secret = new.secret or secrets.token_urlsafe(32)
        integration_id = f"{new.provider[:3]}-{secrets.token_hex(6)}"
        change = integration_configured(integration_id, new, _secret_box(service).encrypt(secret))
        if not await repo.add_integration(change.event, secret_fingerprint(_fingerprint_key(service), new.provider, secret)):
            raise SecretInUse(f"another integration already uses this secret; a {new.provider} secret must be "
                              "unique (omit it to have one generated)")
        await _commit(uow, change, utcnow())
    return await _published(service, integration_receipt(change.event, secret, public_ingest_url))


async def connect_slack(service: Service, credentials: SlackCredentials) -> dict[str, Any]:
    async with service.uow() as uow:
        repo = ConfigRepository(uow.connection)
        await _require_workspace(repo, credentials.workspace_id)
        box, now = _secret_box(service), utcnow()
        change = slack_connected(credentials, box.encrypt(credentials.bot_token), box.encrypt(credentials.signing_secret))
        await repo.save_slack_connection(change.event, now)
        await _commit(uow, change, now)
    return await _published(service, {"workspace_id": credentials.workspace_id, "connected": True})


async def create_rule(service: Service, rule: RuleDefinition) -> dict[str, Any]:
    return await save_rule(service, f"rule-{secrets.token_hex(5)}", rule)


async def save_rule(service: Service, rule_id: str, rule: RuleDefinition) -> dict[str, Any]:
    """Returns the rule's definition as stored (and as the router receives it)."""
    async with service.uow() as uow:
        repo = ConfigRepository(uow.connection)
        await _require_workspace(repo, rule.workspace_id)
        change, now = rule_saved(rule_id, rule), utcnow()
        if not await repo.save_rule(change.event, now):
            raise RuleInAnotherWorkspace(f"rule {rule_id!r} belongs to another workspace; a rule cannot move "
                                         "between workspaces (create a new one in this workspace)")
        await _commit(uow, change, now)
    return await _published(service, change.event.model_dump(mode="json"))


async def delete_rule(service: Service, rule_id: str) -> None:
    async with service.uow() as uow:
        workspace_id = await ConfigRepository(uow.connection).delete_rule(rule_id)
        if workspace_id is None:
            raise UnknownRule("no such rule")
        await _commit(uow, rule_deleted(rule_id, workspace_id), utcnow())
    await _published(service, {"rule_id": rule_id, "deleted": True})


async def _require_workspace(repo: ConfigRepository, workspace_id: str) -> None:
    if not await repo.workspace_exists(workspace_id):
        raise UnknownWorkspace(f"no workspace {workspace_id!r}")


def _secret_box(service: Service) -> SecretBox:
    if service.secrets is None:
        raise SecretKeyMissing("SIGNALCRAFT_SECRET_KEY is not configured")
    return service.secrets


def _fingerprint_key(service: Service) -> bytes:
    """The key of secret fingerprints: derived from SIGNALCRAFT_SECRET_KEY, never the key itself."""
    _secret_box(service)
    return hashlib.sha256(b"signalcraft secret fingerprint\0" + service.settings.secret_key.encode()).digest()


async def fingerprint_stored_secrets(service: Service) -> None:
    """At start: integrations stored before fingerprints were get theirs, so a new one cannot reuse
    their secret. Of two that already share one, the older keeps it; the other is logged."""
    if service.secrets is None:
        return
    key = _fingerprint_key(service)
    async with service.uow() as uow:
        repo = ConfigRepository(uow.connection)
        for integration_id, provider, sealed in await repo.secrets_without_fingerprint(SECRET_IDENTIFIES):
            fingerprint = secret_fingerprint(key, provider, service.secrets.decrypt(sealed))
            if fingerprint and not await repo.set_secret_fingerprint(integration_id, fingerprint):
                log.warning("integration shares its secret with an older one; only its webhook URL identifies it",
                            integration=integration_id, provider=provider)
        await uow.commit()


async def _commit(uow: UnitOfWork, change: ConfigChange[Any], now: datetime) -> None:
    """The config event goes to the outbox in the transaction of the row it describes."""
    uow.emit(Envelope.wrap(change.event, workspace_id=change.workspace_id, key=change.key,
                           correlation_id=f"admin:{uuid.uuid4()}", occurred_at=now))
    await uow.commit()


async def _published(service: Service, result: dict[str, Any]) -> dict[str, Any]:
    """Answer a configuration change once it is on the config topic, not merely stored: a service
    that then meets the new workspace or integration finds it there (`ConfigView.sync`). Not there
    in time: NotPublished (503), which still carries `result`, since the change is committed."""
    try:
        published = await service.relay.wait_published()
    except Exception as exc:  # e.g. the database went away after the commit: committed all the same
        log.warning("could not tell whether the config change is published", error=repr(exc))
        published = False
    if not published:
        raise NotPublished(result)
    return result


# --- escalation policies and on-call schedules (issue 10.1, 10.2) -----------------------------


async def create_policy(service: Service, policy: PolicyDefinition) -> dict[str, Any]:
    return await save_policy(service, f"policy-{secrets.token_hex(5)}", policy)


async def save_policy(service: Service, policy_id: str, policy: PolicyDefinition) -> dict[str, Any]:
    """Returns the policy as stored (and as the router receives it)."""
    async with service.uow() as uow:
        rows = EscalationConfigRows(uow.connection)
        await _require_workspace(ConfigRepository(uow.connection), policy.workspace_id)
        change, now = policy_saved(policy_id, policy, await rows.schedule_ids(policy.workspace_id)), utcnow()
        if not await rows.save_policy(change.event, now):
            raise InAnotherWorkspace(f"policy {policy_id!r} belongs to another workspace")
        await _commit(uow, change, now)
    return await _published(service, change.event.model_dump(mode="json"))


async def delete_policy(service: Service, policy_id: str) -> None:
    async with service.uow() as uow:
        rows = EscalationConfigRows(uow.connection)
        if (stored := await rows.policy(policy_id)) is None:
            raise UnknownPolicy("no such escalation policy")
        workspace_id = stored["workspace_id"]
        change = policy_deleted(policy_id, workspace_id, await rows.naming_policy(workspace_id, policy_id))
        await rows.delete_policy(policy_id)
        await _commit(uow, change, utcnow())
    await _published(service, {"policy_id": policy_id, "deleted": True})


async def create_schedule(service: Service, schedule: ScheduleDefinition) -> dict[str, Any]:
    return await save_schedule(service, f"schedule-{secrets.token_hex(5)}", schedule)


async def save_schedule(service: Service, schedule_id: str, schedule: ScheduleDefinition) -> dict[str, Any]:
    async with service.uow() as uow:
        rows = EscalationConfigRows(uow.connection)
        await _require_workspace(ConfigRepository(uow.connection), schedule.workspace_id)
        change, now = schedule_saved(schedule_id, schedule), utcnow()
        if not await rows.save_schedule(change.event, now):
            raise InAnotherWorkspace(f"schedule {schedule_id!r} belongs to another workspace")
        await _commit(uow, change, now)
    return await _published(service, change.event.model_dump(mode="json"))


async def delete_schedule(service: Service, schedule_id: str) -> None:
    async with service.uow() as uow:
        rows = EscalationConfigRows(uow.connection)
        if (stored := await rows.schedule(schedule_id)) is None:
            raise UnknownSchedule("no such schedule")
        workspace_id = stored["workspace_id"]
        named_by = policies_naming_schedule(await rows.policies(workspace_id), schedule_id)
        change = schedule_deleted(schedule_id, workspace_id, named_by)
        await rows.delete_schedule(schedule_id)
        await _commit(uow, change, utcnow())
    await _published(service, {"schedule_id": schedule_id, "deleted": True})


async def who_is_on_call(rows: EscalationConfigRows, schedule_id: str, at: datetime) -> dict[str, Any]:
    if (stored := await rows.schedule(schedule_id)) is None:
        raise UnknownSchedule("no such schedule")
    return on_call_answer(stored, at)


async def upcoming_handoffs(rows: EscalationConfigRows, schedule_id: str, after: datetime, count: int) -> dict[str, Any]:
    if (stored := await rows.schedule(schedule_id)) is None:
        raise UnknownSchedule("no such schedule")
    return handoffs_answer(stored, after, count)
