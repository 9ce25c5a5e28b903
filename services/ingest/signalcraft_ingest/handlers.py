"""Ingest's webhook flow, one step per function: find the integration, verify, parse, do what the
parse asks, store durably, answer.

A webhook is answered 2xx only once its raw body and its alerts.normalized events are committed
(repository.DeliveryWriter, which group-commits them with the outbox rows). Refusals are raised as
domain errors; adapters/http.py reads the request, calls `WebhookHandler.receive` and maps the
outcome to a status code.

A Slack button press (`SlackActionHandler`) takes the same path to the outbox: verified, stored with
the GroupCommand it asks for, answered at once; grouping decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from signalcraft_runtime.logs import get_logger
from signalcraft_schemas import Envelope, NormalizedAlert, new_event_id
from signalcraft_schemas.events import AlertNormalized

from .adapters.slack_interactions import SlackTeams, verified_workspaces
from .adapters.sns import HttpProviderContext
from .domain.errors import AuthenticationFailed, UnknownIntegration, UnsupportedPayload
from .adapters.integrations import IntegrationDirectory
from .domain.normalize import group_key_of
from .domain.providers.base import Integration, ParsedWebhook, Provider, WebhookRequest
from .domain.slack_actions import (
    Click, ClickRefused, SignatureHeaders, command_for, ephemeral, read_click, read_payload, signature_headers, team_of,
)
from .repository import Delivery, DeliveryWriter

log = get_logger(__name__)

# Request headers kept with the raw body: enough to replay or audit a delivery, no credentials.
KEPT_HEADERS = ("content-type", "user-agent", "request-id", "sentry-hook-resource", "sentry-hook-timestamp",
                "x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn")


class StorageUnavailable(Exception):
    """The database did not take the delivery: nothing was kept, the sender should retry (503)."""


@dataclass(frozen=True)
class Receipt:
    """What the sender is told about a stored webhook; `repeated`: a known delivery_key, not stored again."""

    body: Mapping[str, Any]
    repeated: bool = False


class WebhookHandler:
    def __init__(self, directory: IntegrationDirectory, writer: DeliveryWriter, context: HttpProviderContext,
                 sync_config: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.directory = directory
        self.writer = writer
        self.context = context
        self._sync_config = sync_config
        self._sync_lock = asyncio.Lock()  # unknown ids, e.g. a scan, cost one config sync at a time

    async def receive(self, provider: Provider, integration_id: str | None,
                      read: Callable[[], Awaitable[WebhookRequest]]) -> Receipt:
        """`read` reads the request's body, and is called only once an integration named in the URL is
        known: an unknown one costs no upload (404), a known one is held to the size limit (413).
        Without an id (/v2/enqueue) the body's routing_key names the integration."""
        integration = await self.find_integration(provider.name, integration_id) if integration_id else None
        webhook = await read()
        if integration is None:
            integration = await self.find_integration(provider.name, None, webhook)
        await provider.authenticate(webhook, integration, self.context)
        parsed = parse(provider, webhook, integration)
        # Before storing: a confirmation that fails is answered like a failed verification,
        # so the sender retries (503) or learns why (4xx), and nothing half-done is kept.
        for effect in parsed.side_effects:
            await self.context.perform(effect)
        delivery = new_delivery(provider.name, integration, webhook, parsed)
        return answer(parsed, delivery, await self.store(delivery))

    async def find_integration(self, provider_name: str, integration_id: str | None,
                               webhook: WebhookRequest | None = None) -> Integration:
        """The webhook's integration, by the id in its URL or, without one, by the secret in its body;
        one created a moment ago is found even if the view trailed it."""
        try:
            return self._lookup(provider_name, integration_id, webhook)
        except (UnknownIntegration, AuthenticationFailed):
            if self._sync_config is None:
                raise
        async with self._sync_lock:
            with suppress(UnknownIntegration, AuthenticationFailed):
                return self._lookup(provider_name, integration_id, webhook)  # another request's sync brought it in
            await self._sync_config()
        return self._lookup(provider_name, integration_id, webhook)

    def _lookup(self, provider_name: str, integration_id: str | None, webhook: WebhookRequest | None) -> Integration:
        if integration_id:
            return self.directory.get(integration_id, provider_name)
        if webhook is None:
            raise ValueError("an integration is found by its id or by its webhook's secret")
        return self.directory.by_secret_field(provider_name, webhook)

    async def store(self, delivery: Delivery) -> bool:
        """True once stored with its events, False for a repeat of a stored delivery_key."""
        try:
            return await self.writer.store(delivery)
        except Exception as exc:
            log.error("webhook not stored", error=repr(exc))
            raise StorageUnavailable("temporarily unable to store the webhook; retry") from exc


def parse(provider: Provider, webhook: WebhookRequest, integration: Integration) -> ParsedWebhook:
    """The provider's alerts. A value that passed the provider's checks but not NormalizedAlert's (a
    fingerprint that is only control characters, say) is the sender's mistake, answered 422 with the
    field and the rule it broke (never the value), not a server error."""
    try:
        return provider.parse(webhook, integration)
    except ValidationError as exc:
        raise UnsupportedPayload(f"not a valid alert: {invalid_fields(exc)}") from None


def invalid_fields(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'alert'}: {error['msg']}"
                     for error in exc.errors(include_url=False, include_input=False)[:3])


def new_delivery(provider_name: str, integration: Integration, webhook: WebhookRequest,
                 parsed: ParsedWebhook) -> Delivery:
    delivery_id = new_event_id()
    return Delivery(
        delivery_id=delivery_id, integration_id=integration.integration_id, workspace_id=integration.workspace_id,
        provider=provider_name, delivery_key=parsed.delivery_key, received_at=webhook.received_at,
        headers={k: v for k, v in webhook.headers.items() if k in KEPT_HEADERS}, body=webhook.body,
        events=normalized_events(parsed.alerts, integration, str(delivery_id), webhook.received_at),
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
    accepted, or the ephemeral answer for the person; raises for a 401 or 400."""

    def __init__(self, teams: SlackTeams, writer: DeliveryWriter) -> None:
        self.teams = teams
        self.writer = writer

    async def receive(self, body: bytes, headers: Mapping[str, str], now: datetime) -> dict[str, Any] | None:
        signed = signature_headers(headers, now)
        payload = read_payload(body)
        workspaces = self.verify(team_of(payload), body, signed, now)
        try:
            click = read_click(payload)
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
