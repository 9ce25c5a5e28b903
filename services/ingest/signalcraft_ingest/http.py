"""Webhook endpoints: decode the request, call the provider, store durably, answer.

Status codes: unknown integration 404, over the size limit 413, authentication 401, unparseable 400,
unsupported shape 422, database unavailable 503; 202 once stored, 200 for a repeat delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.logs import get_logger
from signalcraft_schemas import Envelope, new_event_id
from signalcraft_schemas.events import AlertNormalized

from .domain.errors import (
    AuthenticationFailed, MalformedPayload, PayloadTooLarge, ProviderUnavailable, UnknownIntegration,
    UnsupportedPayload, WebhookRejected,
)
from .domain.normalize import group_key_of
from .integrations import IntegrationDirectory
from .providers import Integration, Provider, WebhookRequest, get_provider
from .storage import Delivery, DeliveryWriter

log = get_logger(__name__)

STATUS = {
    AuthenticationFailed: 401, MalformedPayload: 400, UnsupportedPayload: 422, PayloadTooLarge: 413,
    UnknownIntegration: 404,
}
KEPT_HEADERS = ("content-type", "user-agent", "request-id", "sentry-hook-resource", "sentry-hook-timestamp",
                "x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn")


class WebhookReceiver:
    """The steps every provider's webhook goes through; the routes below only pick the integration."""

    def __init__(self, directory: IntegrationDirectory, writer: DeliveryWriter, context: Any, max_body_bytes: int,
                 sync_config: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.directory = directory
        self.writer = writer
        self.context = context
        self.max_body_bytes = max_body_bytes
        self._sync_config = sync_config
        self._sync_lock = asyncio.Lock()  # unknown ids, e.g. a scan, cost one config sync at a time

    async def integration_for(self, provider_name: str, integration_id: str | None, webhook: WebhookRequest) -> Integration:
        """The webhook's integration; one created a moment ago is found even if the view trailed it."""

        def lookup() -> Integration:
            return (self.directory.get(integration_id, provider_name) if integration_id
                    else self.directory.by_secret_field(provider_name, webhook))

        try:
            return lookup()
        except (UnknownIntegration, AuthenticationFailed):
            if self._sync_config is None:
                raise
        async with self._sync_lock:
            with suppress(UnknownIntegration, AuthenticationFailed):
                return lookup()  # another request's sync brought it in meanwhile
            await self._sync_config()
        return lookup()

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(f"body of {declared} bytes is over the {self.max_body_bytes}-byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(f"body is over the {self.max_body_bytes}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def receive(self, provider_name: str, integration_id: str | None, request: Request) -> JSONResponse:
        provider: Provider | None = get_provider(provider_name)
        try:
            if provider is None:
                raise UnknownIntegration(f"unknown provider {provider_name!r}")
            body = await self.read_body(request)
            webhook = WebhookRequest(
                body=body, headers={k.lower(): v for k, v in request.headers.items()},
                query=dict(request.query_params), received_at=utcnow(),
            )
            integration = await self.integration_for(provider_name, integration_id, webhook)
            await provider.authenticate(webhook, integration, self.context)
            parsed = provider.parse(webhook, integration)
            # Before storing: a confirmation that fails is answered like a failed verification,
            # so the sender retries (503) or learns why (4xx), and nothing half-done is kept.
            for effect in parsed.side_effects:
                await self.context.perform(effect)
        except ProviderUnavailable as exc:
            # e.g. the SNS signing certificate could not be fetched: not the sender's fault; it retries.
            log.warning("webhook not verified, dependency unavailable", provider=provider_name, error=repr(exc))
            return JSONResponse({"error": f"temporarily unable to verify the webhook: {exc}"}, status_code=503)
        except WebhookRejected as rejected:
            status = STATUS.get(type(rejected), 400)
            log.info("webhook rejected", provider=provider_name, integration=integration_id, status=status,
                     reason=rejected.reason)
            custom = provider.error_body(status, rejected.reason) if provider else None
            return JSONResponse(dict(custom) if custom else {"error": rejected.reason}, status_code=status)

        delivery_id = new_event_id()
        correlation = str(delivery_id)
        events = [
            Envelope.wrap(
                AlertNormalized(alert=alert, group_key=group_key, integration_id=integration.integration_id,
                                delivery_id=correlation),
                workspace_id=integration.workspace_id, key=group_key, correlation_id=correlation,
                occurred_at=webhook.received_at,
            )
            for alert, group_key in ((a, group_key_of(a)) for a in parsed.alerts)  # a sha256 each: once
        ]
        delivery = Delivery(
            delivery_id=delivery_id, integration_id=integration.integration_id, workspace_id=integration.workspace_id,
            provider=provider_name,
            delivery_key=parsed.delivery_key,
            received_at=webhook.received_at,
            headers={k: v for k, v in webhook.headers.items() if k in KEPT_HEADERS},
            body=body, events=events,
        )
        try:
            stored = await self.writer.store(delivery)
        except Exception as exc:
            log.error("webhook not stored", error=repr(exc))
            return JSONResponse({"error": "temporarily unable to store the webhook; retry"}, status_code=503)
        if parsed.response_body is not None:
            return JSONResponse(dict(parsed.response_body), status_code=202)
        if not stored:
            return JSONResponse({"status": "duplicate", "delivery_key": parsed.delivery_key}, status_code=200)
        body_out: dict[str, Any] = {"status": "accepted", "delivery_id": correlation, "alerts": len(events)}
        if parsed.note:
            body_out["note"] = parsed.note
        return JSONResponse(body_out, status_code=202)


def webhook_router(receiver_of: Any) -> APIRouter:
    """Plain Starlette routes: the hot path needs no FastAPI parameter parsing or response models."""
    router = APIRouter(tags=["webhooks"])

    async def provider_webhook(request: Request) -> JSONResponse:
        params = request.path_params
        return await receiver_of(request).receive(params["provider"], params["integration_id"], request)

    async def pagerduty_events_v2(request: Request) -> JSONResponse:
        """PagerDuty Events API v2-compatible: the integration is the one whose secret is the routing_key."""
        return await receiver_of(request).receive("pagerduty", None, request)

    router.add_route("/webhooks/{provider}/{integration_id}", provider_webhook, methods=["POST"])
    router.add_route("/v2/enqueue", pagerduty_events_v2, methods=["POST"])
    return router
