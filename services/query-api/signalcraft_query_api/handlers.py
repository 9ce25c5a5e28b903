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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from signalcraft_policies.routing import routes
from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.consumer import BatchConsumer
from signalcraft_runtime.crypto import SecretBox
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.service import Service
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope, new_event_id
from signalcraft_schemas.events import (
    AlertNormalized, EscalationArmed, EscalationCancelled, EscalationFired, EventData, GroupAcknowledged,
    GroupAssigned, GroupCommand, GroupCommandRejected, GroupNoteAdded, GroupOpened, GroupReopened, GroupResolved,
    GroupSeverityRaised, GroupSnoozed, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated, MessageDeadLettered,
    NotificationDelivered, NotificationFailed, NotificationRequested, SlackDisconnected, WebhooksRejected,
    WebhooksThrottled,
)

from .adapters.slack_auth import token_status
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
from .domain.identity import (
    Caller, NewMember, TokenRequest, UnknownMember, check_grant, check_personal_token, mint_token, slack_actors,
    slack_user_of, token_row, token_view, user_row, with_members,
)
from .domain.integration_ops import (
    SignedWebhook, StoredIntegration, UnknownIntegrationId, integration_deleted, integration_state, integration_view,
    patched, rotated, signed_test_webhook, trace_of_test_webhook,
)
from .domain.projection import (
    ProjectionBatch, alert_row, command_outcome_row, dead_letter_row, group_change_row, group_route, group_row,
    note_row, notification_requested_row, notification_result_row, rejected_row, throttled_activity,
    timeline_entry,
)
from .domain.read_views import (
    HISTORY as SILENCE_HISTORY, AlertPage, DeliveryHealth, GroupDetail, GroupPage, Overview, SlackHealth, alert_page,
    decode_cursor, delivery_health_view, group_detail_view, group_page, overview,
)
from .domain.retention import PROJECTION_GROUP, RetentionPolicy, projection_group
from .domain.silence import (
    Raise as RaiseSilenceAlert, Step as SilenceStep, alert_of as silence_alert_of, event as silence_event,
    needs_history, raised_record, step_workspace, steps as silence_steps, with_history,
)
from .domain.simulate import answer, dedup_window_of, replay
from .domain.slack_oauth import SlackInstall, SlackOAuthApp, authorize_url, sign_state, state_key, verify_state
from .repository.commands import CommandRows
from .repository.config import ConfigRepository
from .repository.escalation import EscalationConfigRows
from .repository.identity import IdentityRows
from .repository.integration_ops import IntegrationRows
from .repository.maintenance import (
    current_generation, delete_older_than, delete_slack_connection, projection_counts, slack_connection,
    start_rebuild,
)
from .repository.projection import ReadModelWriter
from .repository.read_queries import Filters, ReadQueries
from .repository.rollup import fold_rollup_changes
from .repository.silence import SilenceRows
from .repository.simulate import SimulationRows
from .repository.slack_health import SlackTokenRows

log = get_logger(__name__)

# --- projection: consumed events -> read models --------------------------------------------

Projector = Callable[[ReadModelWriter, ProjectionBatch, Envelope[Any]], Awaitable[None]]


async def on_alert_normalized(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    batch.alerts.append(alert_row(env))


async def on_group_event(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """Opened, updated, acknowledged, snoozed, reopened, resolved...: the group's row as the event
    shows it, and the outcome of the command it answers, if any."""
    batch.groups.append(group_row(env))
    outcome = command_outcome_row(env)
    if outcome is not None:
        batch.outcomes.append(outcome)
    batch.timeline.append(timeline_entry(env))
    batch.changes.append(group_change_row(env))


async def on_note_added(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """A group event like the others (timeline, outcome, change feed), and the note itself."""
    await on_group_event(read_models, batch, env)
    await read_models.insert_note(note_row(env))


async def on_command_rejected(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """A command that changed nothing: its outcome (for `?wait=true`) and a line in the timeline."""
    batch.outcomes.append(command_outcome_row(env))  # type: ignore[arg-type]
    batch.timeline.append(timeline_entry(env))


async def on_notification_requested(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    batch.requested.append(notification_requested_row(env))
    route = group_route(env.data)
    if route is not None:
        batch.routes.append({"group_id": env.data.group.group_id, **route})
    batch.timeline.append(timeline_entry(env))


async def on_notification_delivered(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    batch.results.append(notification_result_row(env))
    batch.notified.append({"group_id": env.data.group_id, "at": env.occurred_at})
    batch.timeline.append(timeline_entry(env))


async def on_notification_failed(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    batch.results.append(notification_result_row(env))
    batch.timeline.append(timeline_entry(env))


async def on_escalation(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    """Armed or fired: a line in the group's timeline, nothing else."""
    batch.timeline.append(timeline_entry(env))


async def on_dead_letter(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.insert_dead_letter(dead_letter_row(env))


async def on_webhooks_throttled(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.add_throttled(throttled_activity(env))


async def on_webhooks_rejected(read_models: ReadModelWriter, batch: ProjectionBatch, env: Envelope[Any]) -> None:
    await read_models.add_rejected(rejected_row(env))


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
    GroupNoteAdded: on_note_added, WebhooksRejected: on_webhooks_rejected,
}  # any other event on the consumed topics has no read model


async def project(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
    """The consumer's batch handler: every event through its projector, then the batch's rows, one
    statement per kind of row."""
    read_models = ReadModelWriter(uow)
    batch = ProjectionBatch()
    for env in envelopes:
        projector = PROJECTORS.get(type(env.data))
        if projector is not None:
            await projector(read_models, batch, await as_members(uow, env))
    await read_models.write(batch)


async def as_members(uow: UnitOfWork, env: Envelope[Any]) -> Envelope[Any]:
    """Slack clicks come as "slack:<team>/<user>" (ingest cannot know our users): where that Slack
    user is linked to a member, the read models name the member ("user:<id>") instead."""
    actors = slack_actors(env.data)
    if not actors:
        return env
    rows = IdentityRows(uow.connection)
    linked = {actor: user_id for actor in actors
              if (user_id := await rows.user_by_slack(*slack_user_of(actor))) is not None}  # type: ignore[misc]
    return env.model_copy(update={"data": with_members(env.data, linked)}) if linked else env


# --- reads that need more than a query -------------------------------------------------------


async def dashboard_overview(queries: ReadQueries, workspace_id: str, window_hours: int) -> Overview:
    now = utcnow()
    since = now - timedelta(hours=window_hours)
    return overview(await queries.overview_counts(workspace_id, since=since), window_hours, since, now)


async def alerts_page(queries: ReadQueries, workspace_id: str, filters: Filters, limit: int, cursor: str | None,
                      before: datetime | None) -> AlertPage:
    after = decode_cursor(cursor, (datetime, uuid.UUID)) if cursor else None
    return alert_page(await queries.alerts(workspace_id, filters, limit, after, before), limit)


SORT_KINDS: dict[str, type] = {"last_seen": datetime, "count": int, "severity": int}  # a groups cursor's key


async def groups_page(queries: ReadQueries, workspace_id: str, filters: Filters, limit: int, sort: str,
                      cursor: str | None, before: datetime | None, unassigned: bool) -> GroupPage:
    after = decode_cursor(cursor, (SORT_KINDS[sort], uuid.UUID)) if cursor else None
    rows = await queries.groups(workspace_id, filters, limit, sort, after, before, unassigned)
    by_status, unassigned_count = await queries.group_totals(workspace_id, filters, unassigned)
    return group_page(rows, limit, by_status, unassigned_count, sort)


async def group_detail(queries: ReadQueries, group_id: uuid.UUID, workspace_id: str | None,
                       alerts_limit: int) -> GroupDetail | None:
    group = await queries.group(group_id, workspace_id)
    if group is None:
        return None
    return group_detail_view(group, await queries.group_detail(group, alerts_limit))


async def delivery_health(queries: ReadQueries, workspace_id: str, limit: int) -> DeliveryHealth:
    now = utcnow()
    return delivery_health_view(await queries.delivery_health(workspace_id, limit, now - SILENCE_HISTORY), now)


# --- the Slack token's validity (auth.test), when saved and periodically ---------------------


async def check_slack_token(service: Service, workspace_id: str) -> SlackHealth | None:
    async with service.engine.connect() as conn:
        found = await SlackTokenRows(conn).connection(workspace_id)
    if found is None:
        return None
    status, now = await _check_and_record(service, workspace_id, found["bot_token_encrypted"])
    return SlackHealth(connected=True, team_id=found["team_id"], token_status=status, token_checked_at=now)


async def check_due_slack_tokens(service: Service, every_s: float, limit: int = 20) -> int:
    """A drain step: tokens never checked, re-saved, or last checked over `every_s` ago. Returns how many."""
    now = utcnow()
    if service.secrets is None:
        return 0  # no key, no stored tokens to read (the config API refuses to store them too)
    async with service.engine.connect() as conn:
        due = await SlackTokenRows(conn).due(now - timedelta(seconds=every_s), limit)
    for workspace_id, sealed in due:
        await _check_and_record(service, workspace_id, sealed)
    return len(due)


# --- sources gone silent (issue 11.2) -------------------------------------------------------------


async def alert_on_silent_sources(service: Service) -> int:
    """Drain step: an integration with alert_when_silent gone silent raises one alert of SignalCraft's
    own (the outbox, onto alerts.normalized: grouping, router, notifier as any alert), resolved when it
    speaks again. Returns the alerts emitted (a new silence behind a resolved one comes next pass)."""
    now = utcnow()
    async with service.engine.connect() as conn:
        rows = SilenceRows(conn)
        watched = await rows.watched()
        alerted = await rows.alerted(watched.keys())
        due = [w for w in watched.values() if needs_history(w, alerted.get(w.integration_id), now)]
        watched = with_history(watched, await rows.history(due, now - SILENCE_HISTORY))
    done = 0
    for step in silence_steps(watched, alerted, now):
        done += await _take_silence_step(service, step, now)
    return done


async def _take_silence_step(service: Service, step: SilenceStep, now: datetime) -> int:
    """The alert recorded and emitted in one transaction: exactly once, whichever replica wins."""
    alert = silence_alert_of(step, now)
    async with service.uow() as uow:
        rows = SilenceRows(uow.connection)
        recorded = (await rows.raise_alert(raised_record(step, alert, now)) if isinstance(step, RaiseSilenceAlert)
                    else await rows.resolve(step.stored, now, step.reason))
        if not recorded:
            return 0
        uow.emit(silence_event(step, alert, now))
        await uow.commit()
    log.info("silent source", alert=alert.title, status=alert.status.value, workspace_id=step_workspace(step))
    return 1


async def _check_and_record(service: Service, workspace_id: str, sealed_token: str) -> tuple[str, datetime]:
    """auth.test with the stored token, and its answer recorded against that token: its status, when."""
    plain = _secret_box(service).decrypt(sealed_token)
    status = await token_status(plain, service.settings.slack_base_url)  # type: ignore[attr-defined]
    now = utcnow()
    async with service.engine.begin() as conn:
        await SlackTokenRows(conn).record(workspace_id, sealed_token, status, now)
    return status, now


async def simulate_routing(rows: SimulationRows, workspace_id: str, proposed: list[RuleDefinition], since: datetime,
                           until: datetime) -> dict[str, Any]:
    """What-if: the stored firing alerts of [since, until) through the proposed rules, next to what was sent."""
    workspace = await rows.workspace(workspace_id)
    if workspace is None:
        raise UnknownWorkspace(f"no workspace {workspace_id!r}")
    rules = [rule_saved(f"proposed-{n}", rule).event for n, rule in enumerate(proposed, start=1)]
    window = dedup_window_of(workspace)
    simulated = replay(await rows.firing_alerts(workspace_id, since, until), rules, workspace["default_channel"],
                       window, routes)
    actual = await rows.first_notifications(workspace_id, since, until)
    return answer(simulated, actual, since=since, until=until, dedup_window=window,
                  default_channel=workspace["default_channel"])


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


# --- identity: members and API tokens (issue 11.1) -------------------------------------------


async def add_member(service: Service, caller: Caller, workspace_id: str, member: NewMember) -> dict[str, Any]:
    """Adds (or changes the role of) the user with this e-mail; links its OIDC subject and Slack user."""
    check_grant(caller, workspace_id, member.role)
    now = utcnow()
    async with service.uow() as uow:
        await _require_workspace(ConfigRepository(uow.connection), workspace_id)
        rows = IdentityRows(uow.connection)
        user = await rows.save_user(user_row(member, f"u-{secrets.token_hex(6)}", now))
        await rows.save_membership(workspace_id, user["user_id"], member.role, now)
        added = await rows.member(workspace_id, user["user_id"])
        await uow.commit()
    return added  # type: ignore[return-value]


async def remove_member(service: Service, workspace_id: str, user_id: str) -> None:
    """The membership goes; the user's personal tokens in this workspace stop working with it."""
    now = utcnow()
    async with service.uow() as uow:
        rows = IdentityRows(uow.connection)
        if not await rows.remove_membership(workspace_id, user_id):
            raise UnknownMember(f"{user_id!r} is not a member of {workspace_id}")
        await rows.revoke_personal_tokens(workspace_id, user_id, now)
        await uow.commit()


async def create_token(service: Service, caller: Caller, request: TokenRequest) -> dict[str, Any]:
    """The token itself is in this answer only; afterwards only its hash is stored."""
    check_grant(caller, request.workspace_id, request.role)
    now = utcnow()
    async with service.uow() as uow:
        await _require_workspace(ConfigRepository(uow.connection), request.workspace_id)
        rows = IdentityRows(uow.connection)
        member = await rows.member(request.workspace_id, request.user_id) if request.user_id else None
        check_personal_token(request, member["role"] if member else None)
        issued = mint_token(secrets.token_bytes(6), secrets.token_urlsafe(32))
        row = token_row(issued, request, caller, now)
        await rows.insert_token(row)
        await uow.commit()
    return token_view(row) | {"token": issued.token}


async def revoke_token(service: Service, token_id: str) -> None:
    """Idempotent: revoking a revoked token changes nothing."""
    async with service.uow() as uow:
        rows = IdentityRows(uow.connection)
        if await rows.token(token_id) is None:
            raise UnknownMember(f"no token {token_id!r}")
        await rows.revoke_token(token_id, utcnow())
        await uow.commit()


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



# --- integrations: enable, disable, rotate the secret, delete, test (issue 11.3) ------------------


async def _stored_integration(rows: IntegrationRows, integration_id: str, lock: bool = False) -> StoredIntegration:
    stored = await rows.get(integration_id, lock=lock)
    if stored is None:
        raise UnknownIntegrationId("no such integration")
    return stored


async def patch_integration(service: Service, integration_id: str, enabled: bool | None,
                            alert_when_silent: bool | None) -> dict[str, Any]:
    """Enable / disable, and the alert_when_silent option (a source gone silent raises an alert)."""
    now = utcnow()
    async with service.uow() as uow:
        rows = IntegrationRows(uow.connection)
        stored = patched(await _stored_integration(rows, integration_id, lock=True), enabled, alert_when_silent)
        await rows.set_enabled_and_options(integration_id, stored.enabled, stored.options)
        await _commit(uow, integration_state(stored, now), now)
    return await _published(service, integration_view(stored, now))


async def rotate_integration_secret(service: Service, integration_id: str, grace: timedelta,
                                    new_secret: str | None = None) -> dict[str, Any]:
    """A new secret, shown once; the old one is still accepted for `grace` (0: refused at once)."""
    now, secret = utcnow(), new_secret or secrets.token_urlsafe(32)
    async with service.uow() as uow:
        rows = IntegrationRows(uow.connection)
        current = await _stored_integration(rows, integration_id, lock=True)
        stored = rotated(current, _secret_box(service).encrypt(secret), now, grace)
        if not await rows.rotate(stored, secret_fingerprint(_fingerprint_key(service), stored.provider, secret)):
            raise SecretInUse(f"another integration already uses this secret; a {stored.provider} secret must be "
                              "unique (omit it to have one generated)")
        await _commit(uow, integration_state(stored, now), now)
    return await _published(service, integration_view(stored, now) | {"secret": secret})


async def delete_integration(service: Service, integration_id: str) -> None:
    """Gone from the API; ingest answers its webhooks 410 (the tombstone on the config topic)."""
    now = utcnow()
    async with service.uow() as uow:
        rows = IntegrationRows(uow.connection)
        stored = await _stored_integration(rows, integration_id, lock=True)
        await rows.delete(integration_id)
        await _commit(uow, integration_deleted(stored, now), now)
    await _published(service, {"integration_id": integration_id, "deleted": True})


async def expire_secret_rotations(service: Service) -> int:
    """Drain-loop step: integrations whose previous secret's grace is over are republished without it
    (ingest already refuses it by then; this takes its ciphertext off the config topic)."""
    now = utcnow()
    async with service.uow() as uow:
        rows = IntegrationRows(uow.connection)
        expired = await rows.expired_rotations(now)
        for integration_id in expired:
            await rows.forget_rotation(integration_id)
            if (stored := await rows.get(integration_id)) is not None:
                change = integration_state(stored, now)
                uow.emit(Envelope.wrap(change.event, workspace_id=change.workspace_id, key=change.key,
                                       correlation_id=f"admin:{uuid.uuid4()}", occurred_at=now))
        await uow.commit()
    return len(expired)


TEST_TRACE_POLL_S = 0.25


async def send_test_webhook(service: Service, integration_id: str,
                            post: Callable[[SignedWebhook], Awaitable[dict[str, Any]]], wait_s: float) -> dict[str, Any]:
    """The provider's test notification, signed with the integration's secret, posted to ingest; then
    where it went, as far as it got within `wait_s` (ingest, group, route, Slack message or failure)."""
    async with service.engine.connect() as conn:
        stored = await _stored_integration(IntegrationRows(conn), integration_id)
    secret = _secret_box(service).decrypt(stored.secret_encrypted)
    delivery = await post(signed_test_webhook(stored.provider, integration_id, secret, stored.options, utcnow()))
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        async with service.engine.connect() as conn:
            trace = await _trace(IntegrationRows(conn), stored.workspace_id, delivery)
        if trace["complete"] or asyncio.get_running_loop().time() >= deadline:
            return trace
        await asyncio.sleep(TEST_TRACE_POLL_S)


async def _trace(rows: IntegrationRows, workspace_id: str, delivery: dict[str, Any]) -> dict[str, Any]:
    delivery_id = delivery.get("delivery_id")
    alert = await rows.alert_of_delivery(delivery_id) if delivery_id else None
    group = await rows.group_of(workspace_id, alert["group_key"]) if alert else None
    notifications = await rows.notifications_of(group["group_id"]) if group else []
    return trace_of_test_webhook(delivery, alert, group, notifications)


# --- Slack OAuth v2 install, status, disconnect (issue 11.3) ---------------------------------------


async def slack_install_link(service: Service, app: SlackOAuthApp, workspace_id: str) -> dict[str, Any]:
    app.check()
    async with service.engine.connect() as conn:
        await _require_workspace(ConfigRepository(conn), workspace_id)
    state = sign_state(state_key(service.settings.secret_key), workspace_id, utcnow(), secrets.token_urlsafe(12))
    return {"workspace_id": workspace_id, "authorize_url": authorize_url(app, state), "state": state}


async def complete_slack_install(service: Service, app: SlackOAuthApp, code: str, state: str,
                                 exchange: Callable[[str], Awaitable[SlackInstall]]) -> dict[str, Any]:
    """The callback: the state proves which workspace asked; the code becomes a bot token (stored
    encrypted, published like a pasted one) with the app's signing secret for its button clicks."""
    workspace_id = verify_state(state_key(service.settings.secret_key), state, utcnow())
    install = await exchange(code)
    await connect_slack(service, SlackCredentials(workspace_id=workspace_id, bot_token=install.bot_token,
                                                  signing_secret=app.signing_secret, team_id=install.team_id))
    return {"workspace_id": workspace_id, "connected": True, "team_id": install.team_id,
            "team_name": install.team_name, "scope": install.scope}


async def slack_status(service: Service, workspace_id: str) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        if not await ConfigRepository(conn).workspace_exists(workspace_id):
            raise UnknownWorkspace(f"no workspace {workspace_id!r}")
        row = await slack_connection(conn, workspace_id)
    return {"workspace_id": workspace_id, "connected": row is not None,
            "team_id": row["team_id"] if row else None, "connected_at": row["connected_at"] if row else None}


async def disconnect_slack(service: Service, workspace_id: str) -> dict[str, Any]:
    """The bot token and signing secret are deleted; services stop posting for the workspace."""
    async with service.uow() as uow:
        if not await delete_slack_connection(uow.connection, workspace_id):
            raise UnknownWorkspace(f"workspace {workspace_id!r} has no Slack connection")
        change = ConfigChange(SlackDisconnected(workspace_id=workspace_id), workspace_id, f"slack:{workspace_id}")
        await _commit(uow, change, utcnow())
    return await _published(service, {"workspace_id": workspace_id, "connected": False})


# --- read models: rebuild by replay, retention (issue 11.6) -----------------------------------------


class RebuildRunning(Exception):
    """A rebuild of the read models is under way in this process: one at a time."""


_rebuilding: set[int] = set()  # id() of each Service rebuilding now (checked and set with no await between)


@contextmanager
def one_rebuild_at_a_time(service: Service) -> Iterator[None]:
    if id(service) in _rebuilding:
        raise RebuildRunning("a rebuild of the read models is already running; watch /api/admin/read-models")
    _rebuilding.add(id(service))
    try:
        yield
    finally:
        _rebuilding.discard(id(service))


async def rebuild_read_models(service: Service, consumer: BatchConsumer) -> dict[str, Any]:
    """The projection consumer stops; in one transaction the projections and the inbox are emptied and
    a new generation begins; the consumer resumes in that generation's new group, which has no
    offsets yet and so starts every topic at offset 0: the read models are rebuilt by replay."""
    answer: dict[str, Any] = {}

    async def empty_and_move() -> None:
        answer["generation"], answer["tables_emptied"] = await start_rebuild(service.uow, utcnow())
        consumer.group_id = answer["consumer_group"] = projection_group(PROJECTION_GROUP, answer["generation"])

    with one_rebuild_at_a_time(service):
        await service.restart_consuming(empty_and_move)
    return answer


async def use_projection_generation(service: Service, consumer: BatchConsumer) -> None:
    """Before consuming: the projection consumer joins the group of the current generation."""
    async with service.engine.connect() as conn:
        consumer.group_id = projection_group(PROJECTION_GROUP, await current_generation(conn))


async def read_model_counts(service: Service) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        return {"rows": await projection_counts(conn)}


async def fold_dashboard_rollup(uow_factory: UnitOfWorkFactory) -> int:
    """Drain-loop step: the group and delivery changes the projection's writes appended, folded into
    the dashboard's hourly sums; how many."""
    async with uow_factory() as uow:
        moved = await fold_rollup_changes(uow.connection)
        await uow.commit()
    return moved


async def apply_retention(uow_factory: UnitOfWorkFactory, policy: RetentionPolicy,
                          now: Callable[[], datetime] = utcnow) -> int:
    """Drain-loop step: one batch per kind of rows older than its retention deleted; how many in all."""
    deleted = 0
    async with uow_factory() as uow:
        for kind, before in policy.cutoffs(now()).items():
            deleted += await delete_older_than(uow.connection, kind, before)
        await uow.commit()
    return deleted
