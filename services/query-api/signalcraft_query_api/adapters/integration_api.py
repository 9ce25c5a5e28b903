"""An integration's lifecycle over HTTP (issue 11.3): disable / enable, rotate its secret with a grace
period, delete, and send a test webhook through the real pipeline. Writes go to `handlers.py`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field, model_validator

from signalcraft_runtime.service import Service
from signalcraft_schemas.durations import DurationSeconds

from .. import handlers
from ..domain.config import NotPublished, SecretInUse
from ..domain.integration_ops import NoTestWebhook, UnknownIntegrationId
from .auth import require_token
from .ops_clients import post_to_ingest
from .request_bodies import Credential, RequestBody

router = APIRouter(prefix="/api", tags=["integrations"], dependencies=[Depends(require_token)])

STATUS_OF_ERROR: dict[type[Exception], int] = {
    UnknownIntegrationId: 404, SecretInUse: 409, NoTestWebhook: 422, handlers.SecretKeyMissing: 500,
}


@contextmanager
def http_errors() -> Iterator[None]:
    """As the config API: a refusal is its status and reason; committed-not-yet-published is 503."""
    try:
        yield
    except tuple(STATUS_OF_ERROR) as exc:
        raise HTTPException(STATUS_OF_ERROR[type(exc)], str(exc)) from exc
    except NotPublished as exc:
        raise HTTPException(503, {"error": str(exc), "committed": True, "result": jsonable_encoder(exc.result)},
                            headers={"Retry-After": "5"}) from exc


def _service(request: Request) -> Service:
    return request.app.state.service


class IntegrationOut(BaseModel):
    integration_id: str
    workspace_id: str
    provider: str
    name: str
    enabled: bool
    options: dict[str, str] = Field(default_factory=dict)
    previous_secret_valid_until: datetime | None = Field(
        default=None, description="While a rotation's grace period runs: until when the old secret is accepted")


class RotatedIntegrationOut(IntegrationOut):
    secret: str = Field(description="The new secret, shown this once; afterwards it is stored encrypted only")


class IntegrationPatch(RequestBody):
    enabled: bool | None = Field(default=None, description="false: its webhooks are answered 404; true: accepted again")
    alert_when_silent: bool | None = Field(default=None, description="Raise an alert of its own when it goes "
                                           "silent, resolved when it sends again (its option alert_when_silent)")

    @model_validator(mode="after")
    def _something(self) -> "IntegrationPatch":
        if self.enabled is None and self.alert_when_silent is None:
            raise ValueError("give enabled, alert_when_silent or both")
        return self


class RotateIn(RequestBody):
    secret: Credential | None = Field(default=None, min_length=8,
                                      description="Use the provider's own new secret; generated when omitted")
    grace: DurationSeconds | None = Field(default=None, le=30 * 24 * 3600, description=(
        "How long the old secret is still accepted; default SIGNALCRAFT_INTEGRATION_SECRET_GRACE (24 h)"))
    revoke_old_now: bool = Field(default=False, description="Refuse the old secret at once (no grace period)")


@router.patch("/integrations/{integration_id}")
async def patch_integration(integration_id: str, body: IntegrationPatch, request: Request) -> IntegrationOut:
    """Disable (webhooks answered 404 "disabled", counted) or enable again; whether it raises an alert
    when it goes silent."""
    with http_errors():
        return IntegrationOut(**await handlers.patch_integration(_service(request), integration_id, body.enabled,
                                                                 body.alert_when_silent))


@router.delete("/integrations/{integration_id}", status_code=204)
async def delete_integration(integration_id: str, request: Request) -> Response:
    """Its webhooks are answered 410 Gone from then on."""
    with http_errors():
        await handlers.delete_integration(_service(request), integration_id)
    return Response(status_code=204)


@router.post("/integrations/{integration_id}/rotate-secret")
async def rotate_secret(integration_id: str, request: Request,
                        body: RotateIn | None = None) -> RotatedIntegrationOut:
    body = body or RotateIn()
    settings: Any = _service(request).settings  # QueryApiSettings (main.py)
    default = timedelta(seconds=settings.integration_secret_grace_seconds)
    grace = timedelta(0) if body.revoke_old_now else (timedelta(seconds=body.grace) if body.grace else default)
    with http_errors():
        return RotatedIntegrationOut(**await handlers.rotate_integration_secret(
            _service(request), integration_id, grace, body.secret))


class DeliveryOut(BaseModel):
    url: str
    status_code: int | None
    delivery_id: str | None
    error: str | None


class RouteOut(BaseModel):
    channel: str | None
    runbook_url: str | None


class NotificationOut(BaseModel):
    kind: str | None
    channel: str | None
    status: str | None
    error: str | None
    attempts: int | None


class TestWebhookTrace(BaseModel):
    delivery: DeliveryOut
    alert_id: str | None
    group_id: str | None
    route: RouteOut | None
    notification: NotificationOut | None
    reached: str = Field(description="The last step reached: ingest, alert, group, route or slack")
    complete: bool = Field(description="Nothing more will happen: Slack answered, or a step refused it")
    failed: str | None = Field(description="The step that refused it: ingest or slack")
    error: str | None


@router.post("/integrations/{integration_id}/test")
async def send_test_webhook(integration_id: str, request: Request,
                            wait: float = Query(default=20.0, ge=0, le=60)) -> TestWebhookTrace:
    """Sends the provider's test notification, signed with the integration's secret, to ingest and
    follows it for up to `wait` seconds: accepted, alert, group, route, Slack message or the failure.
    The test alert is marked is_test, so dashboards leave it out."""
    settings: Any = _service(request).settings
    ingest_url = settings.test_webhook_ingest_url or settings.public_ingest_url
    with http_errors():
        return TestWebhookTrace(**await handlers.send_test_webhook(
            _service(request), integration_id, partial(post_to_ingest, ingest_url), wait))
