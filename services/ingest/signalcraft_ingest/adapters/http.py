"""Webhook endpoints: read the request, call the handler, map its outcome to a status code.

Status codes: unknown or disabled integration 404, deleted 410, over the size limit 413, authentication
401, unparseable 400, unsupported shape 422, over the integration's rate limit 429 (Retry-After), database unavailable or
ingest at a limit of its own or its configuration still loading 503 (Retry-After); 202 once stored,
200 for a repeat delivery or a replay.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.metrics import WEBHOOKS_RECEIVED, WEBHOOKS_REJECTED, reason_of

from ..domain.errors import (
    AuthenticationFailed, IntegrationGone, MalformedPayload, PayloadTooLarge, ProviderUnavailable, RateLimited,
    TryLater, UnknownIntegration, UnsupportedPayload, WebhookRejected,
)
from ..domain.providers import get_provider
from ..domain.providers.base import Provider, WebhookRequest
from ..handlers import Receipt, StorageUnavailable, WebhookHandler
from .request_body import read_body

log = get_logger(__name__)

STATUS = {
    AuthenticationFailed: 401, MalformedPayload: 400, UnsupportedPayload: 422, PayloadTooLarge: 413,
    UnknownIntegration: 404, RateLimited: 429, IntegrationGone: 410,
}
# After a database failure: the sender comes back soon; the writer retries nothing on its behalf.
STORAGE_RETRY_AFTER_S = 5


def status_of(rejected: WebhookRejected) -> int:
    """The status of the rejection's class, or of the nearest class above it that has one."""
    return next((STATUS[cls] for cls in type(rejected).__mro__ if cls in STATUS), 400)


async def webhook_request(request: Request, max_body_bytes: int) -> WebhookRequest:
    body = await read_body(request, max_body_bytes)
    return WebhookRequest(body=body, headers={k.lower(): v for k, v in request.headers.items()},
                          query=dict(request.query_params), received_at=utcnow())


def provider_named(name: str) -> Provider:
    provider = get_provider(name)
    if provider is None:
        raise UnknownIntegration(f"unknown provider {name!r}")
    return provider


def accepted(receipt: Receipt) -> JSONResponse:
    return JSONResponse(dict(receipt.body), status_code=200 if receipt.repeated else 202)


def refused(provider_name: str, integration_id: str | None, rejected: WebhookRejected) -> JSONResponse:
    status = status_of(rejected)
    log.info("webhook rejected", provider=provider_name, integration=integration_id, status=status,
             reason=rejected.reason)
    provider = get_provider(provider_name)
    custom = provider.error_body(status, rejected.reason) if provider else None
    headers = {"Retry-After": str(rejected.retry_after)} if isinstance(rejected, RateLimited) else None
    return JSONResponse(dict(custom) if custom else {"error": rejected.reason}, status_code=status, headers=headers)


def try_later(provider_name: str, reason: str, retry_after: int) -> JSONResponse:
    """Not refused, not taken now: the sender retries after `retry_after` seconds."""
    log.info("webhook deferred", provider=provider_name, reason=reason, retry_after=retry_after)
    return JSONResponse({"error": reason}, status_code=503, headers={"Retry-After": str(retry_after)})


def unavailable(provider_name: str, exc: ProviderUnavailable) -> JSONResponse:
    # e.g. the SNS signing certificate could not be fetched: not the sender's fault; it retries.
    log.warning("webhook not verified, dependency unavailable", provider=provider_name, error=repr(exc))
    return JSONResponse({"error": f"temporarily unable to verify the webhook: {exc}"}, status_code=503)


async def receive(handler: WebhookHandler, provider_name: str, integration_id: str | None, request: Request,
                  max_body_bytes: int) -> JSONResponse:
    label = provider_name if get_provider(provider_name) else "unknown"  # metric labels: known providers only
    WEBHOOKS_RECEIVED.labels(label).inc()
    try:
        provider = provider_named(provider_name)
        return accepted(await handler.receive(provider, integration_id,
                                              lambda: webhook_request(request, max_body_bytes)))
    except ProviderUnavailable as exc:
        WEBHOOKS_REJECTED.labels(label, reason_of(exc)).inc()
        return unavailable(provider_name, exc)
    except WebhookRejected as rejected:
        WEBHOOKS_REJECTED.labels(label, reason_of(rejected)).inc()
        handler.note_rejected(provider_name, integration_id, status_of(rejected), utcnow())
        return refused(provider_name, integration_id, rejected)
    except TryLater as exc:
        WEBHOOKS_REJECTED.labels(label, reason_of(exc)).inc()
        return try_later(provider_name, exc.reason, exc.retry_after)
    except StorageUnavailable as exc:
        WEBHOOKS_REJECTED.labels(label, reason_of(exc)).inc()
        return try_later(provider_name, str(exc), STORAGE_RETRY_AFTER_S)


def webhook_router(handler_of: Callable[[Request], WebhookHandler], max_body_bytes: int) -> APIRouter:
    """Plain Starlette routes: the hot path needs no FastAPI parameter parsing or response models."""
    router = APIRouter(tags=["webhooks"])

    async def provider_webhook(request: Request) -> JSONResponse:
        params = request.path_params
        return await receive(handler_of(request), params["provider"], params["integration_id"], request,
                             max_body_bytes)

    async def pagerduty_events_v2(request: Request) -> JSONResponse:
        """PagerDuty Events API v2-compatible: the integration is the one whose secret is the routing_key."""
        return await receive(handler_of(request), "pagerduty", None, request, max_body_bytes)

    router.add_route("/webhooks/{provider}/{integration_id}", provider_webhook, methods=["POST"])
    router.add_route("/v2/enqueue", pagerduty_events_v2, methods=["POST"])
    return router
