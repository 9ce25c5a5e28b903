"""Ingest's webhook flow, one step per function: find the integration, verify, parse, do what the
parse asks, store durably, answer.

A webhook is answered 2xx only once its raw body and its alerts.normalized events are committed
(repository.DeliveryWriter, which group-commits them with the outbox rows). Refusals are raised as
domain errors; adapters/http.py reads the request, calls `WebhookHandler.receive` and maps the
outcome to a status code.

Abuse limits (adapters/rate_limits.py): a bound on webhooks in flight in this process (503 with
Retry-After beyond it; an integration named in the URL is looked up first, outside the bound), a
token bucket per integration once the sender is authenticated (429 with Retry-After; refusals are
reported as webhooks.throttled for delivery health), and the writer's bounded queue (503).

A Slack button press (`SlackActionHandler`) takes the same path to the outbox: verified, stored with
the GroupCommand it asks for, answered at once; grouping decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, NormalizedAlert, new_event_id
from signalcraft_schemas.alerts import clean_text
from signalcraft_schemas.events import AlertNormalized, WebhooksRejected, WebhooksThrottled

from .adapters.integrations import ConfigCatchUp, IntegrationDirectory, UnknownSecret
from .adapters.rate_limits import BUSY_RETRY_AFTER_S, InFlightLimit, RefusedSpan, WebhookRateLimiter
from .adapters.slack_interactions import SlackTeams, verified_workspaces
from .adapters.sns import HttpProviderContext
from .domain.errors import AuthenticationFailed, TryLater, UnknownIntegration, UnsupportedPayload, WebhookRejected
from .domain.limits import RateLimit, replay_window_of
from .domain.normalize import group_key_of
from .domain.retention import cutoff
from .domain.verification import accepted_secrets
from .domain.providers.base import Integration, ParsedWebhook, Provider, WebhookRequest
from .domain.slack_actions import (
    Click, ClickRefused, SignatureHeaders, command_for, ephemeral, opens_a_link, read_click, read_payload,
    signature_headers, team_of,
)
from .repository import Delivery, DeliveryWriter, WriterBusy, delete_deliveries_before

log = get_logger(__name__)

# Request headers kept with the raw body: enough to replay or audit a delivery, no credentials.
KEPT_HEADERS = ("content-type", "user-agent", "request-id", "sentry-hook-resource", "sentry-hook-timestamp",
                "x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn")


# A webhook for an integration this process cannot yet tell exists: ask again after this long.
CATCHING_UP_RETRY_AFTER_S = 5


class StorageUnavailable(Exception):
    """The database did not take the delivery: nothing was kept, the sender should retry (503)."""


@dataclass(frozen=True)
class Receipt:
    """What the sender is told about a stored webhook; `repeated`: a known delivery_key, not stored again."""

    body: Mapping[str, Any]
    repeated: bool = False


class WebhookHandler:
    """`sync_config` catches the config view up; `config_ready` says whether it is complete (default:
    it is). `limiter` and `in_flight` are the abuse limits (default: none); `replay_window_s` how long
    a signed message is refused again, unless its integration says otherwise (0: no check)."""

    def __init__(self, directory: IntegrationDirectory, writer: DeliveryWriter, context: HttpProviderContext,
                 sync_config: Callable[[], Awaitable[bool]] | None = None,
                 config_ready: Callable[[], bool] = lambda: True, limiter: WebhookRateLimiter | None = None,
                 in_flight: InFlightLimit | None = None, replay_window_s: int = 0) -> None:
        self.directory = directory
        self.writer = writer
        self.context = context
        self.catch_up = ConfigCatchUp(sync_config, config_ready) if sync_config else None
        self.limiter = limiter or WebhookRateLimiter(RateLimit(per_second=0, burst=1))
        self.in_flight = in_flight or InFlightLimit(limit=2**31)
        self.replay_window_s = replay_window_s

    async def receive(self, provider: Provider, integration_id: str | None,
                      read: Callable[[], Awaitable[WebhookRequest]]) -> Receipt:
        """`read` reads the request's body, and is called only once an integration named in the URL is
        known: an unknown one costs no upload (404), a known one is held to the size limit (413).
        Without an id (/v2/enqueue) the body's routing_key names the integration. From reading on, the
        webhook holds one of this process's in-flight slots."""
        integration = await self.find_integration(provider.name, integration_id) if integration_id else None
        with self.in_flight.slot():
            return await self.take(provider, integration, await read())

    async def take(self, provider: Provider, integration: Integration | None, webhook: WebhookRequest) -> Receipt:
        if integration is None:
            integration = await self.find_integration(provider.name, None, webhook)
        integration = await authenticate(provider, webhook, integration, self.context)
        self.limiter.admit(integration, webhook.received_at)  # authenticated: a forger spends no one's tokens
        parsed = parse(provider, webhook, integration)
        # Before storing: a confirmation that fails is answered like a failed verification,
        # so the sender retries (503) or learns why (4xx), and nothing half-done is kept.
        for effect in parsed.side_effects:
            await self.context.perform(effect)
        delivery = new_delivery(provider.name, integration, webhook, parsed, self.replay_window_s)
        return answer(parsed, delivery, await self.store(delivery))

    async def find_integration(self, provider_name: str, integration_id: str | None,
                               webhook: WebhookRequest | None = None) -> Integration:
        """By the id in its URL, else by the secret in its body; found even if created a moment ago. Not
        found while the view may be incomplete (not ready, or the catch-up failed): TryLater (503),
        never a 404 (which a sender may take as final) for an integration that exists."""
        with suppress(UnknownIntegration, UnknownSecret):
            return self._lookup(provider_name, integration_id, webhook)
        if self.catch_up is None:
            return self._lookup(provider_name, integration_id, webhook)
        ticket = self.catch_up.ticket()
        await self.catch_up.settled()  # a catch-up already running may bring it in: one for many requests
        with suppress(UnknownIntegration, UnknownSecret):
            return self._lookup(provider_name, integration_id, webhook)
        complete = await self.catch_up.after(ticket)
        try:
            return self._lookup(provider_name, integration_id, webhook)
        except (UnknownIntegration, UnknownSecret):
            if complete:
                raise
        raise TryLater("the configuration is still loading; retry", CATCHING_UP_RETRY_AFTER_S)

    def _lookup(self, provider_name: str, integration_id: str | None, webhook: WebhookRequest | None) -> Integration:
        if integration_id:
            return self.directory.get(integration_id, provider_name)
        if webhook is None:
            raise ValueError("an integration is found by its id or by its webhook's secret")
        return self.directory.by_secret_field(provider_name, webhook)

    def note_rejected(self, provider_name: str, integration_id: str | None, status: int, at: datetime) -> None:
        """A refused webhook of an integration named in the URL (bad signature 401, 400, 413, 422) is
        counted for delivery health; unknown, deleted or throttled ones are not its integration's doing."""
        if integration_id is None or status in (404, 410, 429):
            return
        with suppress(WebhookRejected):
            self.limiter.rejected.count(self.directory.get(integration_id, provider_name), status, at)

    async def store(self, delivery: Delivery) -> bool:
        """True once stored with its events, False for a repeat of a stored delivery_key or a replay."""
        try:
            return await self.writer.store(delivery)
        except WriterBusy as exc:
            raise TryLater(f"ingest is at its queue limit ({exc}); retry", BUSY_RETRY_AFTER_S) from None
        except Exception as exc:
            log.error("webhook not stored", error=repr(exc))
            raise StorageUnavailable("temporarily unable to store the webhook; retry") from exc


async def authenticate(provider: Provider, webhook: WebhookRequest, integration: Integration,
                       context: HttpProviderContext) -> Integration:
    """The integration as the webhook proved it: by its current secret, else, during a rotation's grace
    period, by the previous one. A webhook matching neither is refused with the current secret's reason."""
    secrets = accepted_secrets(integration.secret, integration.previous_secret,
                               integration.previous_secret_valid_until, webhook.received_at)
    try:
        await provider.authenticate(webhook, integration, context)
        return integration
    except AuthenticationFailed as refused:
        for previous in secrets[1:]:
            with suppress(AuthenticationFailed):
                await provider.authenticate(webhook, replace(integration, secret=previous), context)
                return replace(integration, secret=previous)
        raise refused


def parse(provider: Provider, webhook: WebhookRequest, integration: Integration) -> ParsedWebhook:
    """The provider's alerts. A value that passed the provider's checks but not NormalizedAlert's (a
    fingerprint that is only control characters, say) is the sender's mistake, answered 422 with the
    field and the rule it broke (never the value), not a server error. A delivery id with control
    characters (a NUL in a signed SNS MessageId) is refused too: PostgreSQL cannot store it, and a
    503 for it would have the sender retry for ever."""
    try:
        parsed = provider.parse(webhook, integration)
    except ValidationError as exc:
        raise UnsupportedPayload(f"not a valid alert: {invalid_fields(exc)}") from None
    if parsed.delivery_key is not None and clean_text(parsed.delivery_key) != parsed.delivery_key:
        raise UnsupportedPayload("the delivery id contains control characters")
    return parsed


def invalid_fields(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'alert'}: {error['msg']}"
                     for error in exc.errors(include_url=False, include_input=False)[:3])


def new_delivery(provider_name: str, integration: Integration, webhook: WebhookRequest,
                 parsed: ParsedWebhook, replay_window_s: int = 0) -> Delivery:
    """The delivery to store: its body without secrets (the provider redacts), the kept headers
    without any that carries the integration's secret, and its replay key for the window."""
    delivery_id, window = new_event_id(), replay_window_of(integration.options, replay_window_s)
    return Delivery(
        delivery_id=delivery_id, integration_id=integration.integration_id, workspace_id=integration.workspace_id,
        provider=provider_name, delivery_key=parsed.delivery_key, received_at=webhook.received_at,
        headers={k: v for k, v in webhook.headers.items()
                 if k in KEPT_HEADERS and not (integration.secret and integration.secret in v)},
        body=webhook.body if parsed.stored_body is None else parsed.stored_body,
        events=normalized_events(parsed.alerts, integration, str(delivery_id), webhook.received_at),
        replay_key=parsed.replay_key if window > 0 else None, replay_window_s=window,
    )


def normalized_events(alerts: list[NormalizedAlert], integration: Integration, delivery_id: str,
                      received_at: datetime) -> list[Envelope[Any]]:
    """One alerts.normalized event per alert, keyed by its group key; the delivery id correlates them."""
    return [
        Envelope.wrap(
            AlertNormalized(alert=alert, group_key=group_key, integration_id=integration.integration_id,
                            delivery_id=delivery_id),
            workspace_id=integration.workspace_id, key=group_key, correlation_id=delivery_id, occurred_at=received_at,
        )
        for alert, group_key in ((a, group_key_of(a)) for a in alerts)  # a sha256 each: once
    ]


async def report_throttled(uow_factory: UnitOfWorkFactory, limiter: WebhookRateLimiter) -> int:
    """Webhooks refused over a rate limit, or refused otherwise (401, 4xx) for a known integration,
    since the last report, emitted as webhooks.throttled and webhooks.rejected events (delivery health
    counts them). Returns 0 however many: one report per period, not a drain."""
    spans, rejected = limiter.throttled.take(), limiter.rejected.take()
    if spans or rejected:
        try:
            async with uow_factory() as uow:
                uow.emit_all(throttled_event(span) for span in spans)
                uow.emit_all(rejected_event(span) for span in rejected)
                await uow.commit()
        except Exception:
            limiter.throttled.restore(spans)  # counted in the next report
            limiter.rejected.restore(rejected)
            raise
    return 0


def rejected_event(span: RefusedSpan) -> Envelope[WebhooksRejected]:
    return Envelope.wrap(
        WebhooksRejected(integration_id=span.integration_id, status=span.status, count=span.count,
                         first_at=span.first_at, last_at=span.last_at),
        workspace_id=span.workspace_id, key=f"integration:{span.integration_id}",
        correlation_id=f"rejected:{span.integration_id}", occurred_at=span.last_at)


async def clean_up_deliveries(uow_factory: UnitOfWorkFactory, period: timedelta | None,
                              now: Callable[[], datetime] = utcnow) -> int:
    """Retention: one batch of raw deliveries older than `period` deleted; how many (0: done for now)."""
    before = cutoff(now(), period)
    return 0 if before is None else await delete_deliveries_before(uow_factory, before)


def throttled_event(span: RefusedSpan) -> Envelope[WebhooksThrottled]:
    return Envelope.wrap(
        WebhooksThrottled(integration_id=span.integration_id, count=span.count, first_at=span.first_at,
                          last_at=span.last_at),
        workspace_id=span.workspace_id, key=f"integration:{span.integration_id}",
        correlation_id=f"throttled:{span.integration_id}", occurred_at=span.last_at)


def answer(parsed: ParsedWebhook, delivery: Delivery, stored: bool) -> Receipt:
    if parsed.response_body is not None:
        return Receipt(dict(parsed.response_body))
    if not stored:
        return Receipt({"status": "duplicate", "delivery_key": parsed.delivery_key}, repeated=True)
    body: dict[str, Any] = {"status": "accepted", "delivery_id": str(delivery.delivery_id),
                            "alerts": len(delivery.events)}
    if parsed.note:
        body["note"] = parsed.note
    return Receipt(body)


# --- Slack interactivity -------------------------------------------------------------------

SLACK_KEPT_HEADERS = ("content-type", "user-agent", "x-slack-request-timestamp")
NOT_RECORDED = "SignalCraft could not record this click just now; please try again."


class SlackActionHandler:
    """A Slack button press: verified, checked against the workspace its button names, stored with
    its GroupCommand through the outbox (grouping decides), answered at once. Returns None when
    accepted (or a link button's click, which needs nothing), or the ephemeral answer for the person;
    raises for a 401 or 400."""

    def __init__(self, teams: SlackTeams, writer: DeliveryWriter) -> None:
        self.teams = teams
        self.writer = writer

    async def receive(self, body: bytes, headers: Mapping[str, str], now: datetime) -> dict[str, Any] | None:
        signed = signature_headers(headers, now)
        payload = read_payload(body)
        workspaces = self.verify(team_of(payload), body, signed, now)
        try:
            click = read_click(payload)
            if opens_a_link(click):
                return None  # Slack opened the button's URL; the click itself asks nothing of us
            command = command_for(click, workspaces, now)
        except ClickRefused as refused:
            log.info("slack click refused", reason=refused.reason)
            return ephemeral(refused.reason)
        try:
            await self.writer.store(click_delivery(click, command, body, headers, now))
        except Exception as exc:
            log.error("slack click not stored", error=repr(exc))
            return ephemeral(NOT_RECORDED)
        return None

    def verify(self, team_id: str, body: bytes, signed: SignatureHeaders, now: datetime) -> frozenset[str]:
        """The workspaces of this team whose signing secret signed the request; none: 401."""
        verified = verified_workspaces(self.teams.signing_secrets(team_id), body, signed, now)
        if not verified:
            raise AuthenticationFailed("the signature matches no Slack connection of this team")
        return verified


def click_delivery(click: Click, command: Envelope[Any], body: bytes, headers: Mapping[str, str],
                   now: datetime) -> Delivery:
    """The raw click, kept like a webhook delivery; its key makes a replayed body act once."""
    return Delivery(
        delivery_id=new_event_id(), integration_id=f"slack:{click.team_id}", workspace_id=command.workspace_id,
        provider="slack", delivery_key=click.delivery_key, received_at=now,
        headers={k: v for k, v in headers.items() if k in SLACK_KEPT_HEADERS}, body=body, events=[command])
