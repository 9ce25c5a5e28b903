"""Configuration: workspaces, integrations, the Slack connection, routing rules.

This service owns configuration. Each write updates its table and appends the config event to the
outbox in one transaction; the relay publishes it to the compacted `config` topic that ingest,
grouping, router, notifier and escalator read. Secrets are encrypted before they are stored.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.service import Service
from signalcraft_schemas import Envelope
from signalcraft_schemas.alerts import SOURCES
from signalcraft_schemas.events import (
    EventData, IntegrationConfigured, RoutingConditions, RoutingRuleDeleted, RoutingRuleSaved, SlackConnected,
    WorkspaceConfigured,
)

from .auth import require_token
from .tables import integrations, routing_rules, slack_connections, workspaces

router = APIRouter(prefix="/api", tags=["config"], dependencies=[Depends(require_token)])


def _service(request: Request) -> Service:
    return request.app.state.service


async def _published(request: Request) -> None:
    """Answer a configuration change once it is on the config topic, not merely stored: a service
    that then meets the new workspace or integration finds it there (`ConfigView.sync`)."""
    await _service(request).relay.wait_published()


def _config_event(data: EventData, workspace_id: str, key: str) -> Envelope[Any]:
    return Envelope.wrap(data, workspace_id=workspace_id, key=key, correlation_id=f"admin:{uuid.uuid4()}",
                         occurred_at=utcnow())


class WorkspaceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    workspace_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    dedup_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    auto_close_minutes: int = Field(default=24 * 60, ge=1, le=30 * 24 * 60)
    default_channel: str | None = None


@router.post("/workspaces", status_code=201)
async def create_workspace(body: WorkspaceIn, request: Request) -> dict[str, Any]:
    workspace_id = body.workspace_id or f"ws-{secrets.token_hex(4)}"
    return await _save_workspace(request, workspace_id, body)


@router.put("/workspaces/{workspace_id}")
async def update_workspace(workspace_id: str, body: WorkspaceIn, request: Request) -> dict[str, Any]:
    return await _save_workspace(request, workspace_id, body)


async def _save_workspace(request: Request, workspace_id: str, body: WorkspaceIn) -> dict[str, Any]:
    row = {"workspace_id": workspace_id, "name": body.name, "dedup_window_minutes": body.dedup_window_minutes,
           "auto_close_minutes": body.auto_close_minutes, "default_channel": body.default_channel}
    async with _service(request).uow() as uow:
        stmt = insert(workspaces).values(**row)
        await uow.connection.execute(stmt.on_conflict_do_update(
            index_elements=[workspaces.c.workspace_id], set_={k: stmt.excluded[k] for k in row if k != "workspace_id"}))
        uow.emit(_config_event(WorkspaceConfigured(**row), workspace_id, f"workspace:{workspace_id}"))
        await uow.commit()
    await _published(request)
    return row


@router.get("/workspaces")
async def list_workspaces(request: Request) -> list[dict[str, Any]]:
    async with _service(request).engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(workspaces).order_by(workspaces.c.created_at))]


async def _require_workspace(request: Request, workspace_id: str) -> None:
    async with _service(request).engine.connect() as conn:
        if (await conn.execute(select(workspaces.c.workspace_id).where(workspaces.c.workspace_id == workspace_id))).first() is None:
            raise HTTPException(404, f"no workspace {workspace_id!r}")


class IntegrationIn(BaseModel):
    workspace_id: str
    provider: str
    name: str = Field(min_length=1, max_length=200)
    options: dict[str, str] = Field(default_factory=dict)
    secret: str | None = Field(default=None, min_length=8, description="Use the provider's own secret (e.g. Sentry's client secret); generated when omitted")


@router.post("/integrations", status_code=201)
async def create_integration(body: IntegrationIn, request: Request) -> dict[str, Any]:
    """Returns the webhook URL and the secret, once; afterwards the secret is stored encrypted only."""
    if body.provider not in SOURCES:
        raise HTTPException(422, f"unknown provider {body.provider!r}; one of {', '.join(SOURCES)}")
    await _require_workspace(request, body.workspace_id)
    service = _service(request)
    if service.secrets is None:
        raise HTTPException(500, "SIGNALCRAFT_SECRET_KEY is not configured")
    integration_id = f"{body.provider[:3]}-{secrets.token_hex(6)}"
    secret = body.secret or secrets.token_urlsafe(32)
    encrypted = service.secrets.encrypt(secret)
    async with service.uow() as uow:
        await uow.connection.execute(insert(integrations).values(
            integration_id=integration_id, workspace_id=body.workspace_id, provider=body.provider, name=body.name,
            secret_encrypted=encrypted, options=body.options, enabled=True))
        uow.emit(_config_event(IntegrationConfigured(
            integration_id=integration_id, workspace_id=body.workspace_id, provider=body.provider, name=body.name,
            secret_encrypted=encrypted, options=body.options), body.workspace_id, f"integration:{integration_id}"))
        await uow.commit()
    await _published(request)
    base = request.app.state.public_ingest_url.rstrip("/")
    result = {"integration_id": integration_id, "workspace_id": body.workspace_id, "provider": body.provider,
              "name": body.name, "webhook_url": f"{base}/webhooks/{body.provider}/{integration_id}", "secret": secret}
    if body.provider == "pagerduty":
        result["events_v2_url"] = f"{base}/v2/enqueue"
    return result


@router.get("/integrations")
async def list_integrations(request: Request, workspace_id: str) -> list[dict[str, Any]]:
    async with _service(request).engine.connect() as conn:
        rows = await conn.execute(select(integrations).where(integrations.c.workspace_id == workspace_id))
        return [{k: v for k, v in r._mapping.items() if k != "secret_encrypted"} for r in rows]


class SlackIn(BaseModel):
    workspace_id: str
    bot_token: str = Field(min_length=1)
    signing_secret: str = Field(min_length=1)
    team_id: str | None = None


@router.post("/slack/connect", status_code=201)
async def connect_slack(body: SlackIn, request: Request) -> dict[str, Any]:
    await _require_workspace(request, body.workspace_id)
    service = _service(request)
    assert service.secrets is not None
    token, signing = service.secrets.encrypt(body.bot_token), service.secrets.encrypt(body.signing_secret)
    async with service.uow() as uow:
        stmt = insert(slack_connections).values(workspace_id=body.workspace_id, bot_token_encrypted=token,
                                                signing_secret_encrypted=signing, team_id=body.team_id)
        await uow.connection.execute(stmt.on_conflict_do_update(
            index_elements=[slack_connections.c.workspace_id],
            set_={"bot_token_encrypted": token, "signing_secret_encrypted": signing, "team_id": body.team_id,
                  "connected_at": utcnow()}))
        uow.emit(_config_event(SlackConnected(workspace_id=body.workspace_id, bot_token_encrypted=token,
                                              signing_secret_encrypted=signing, team_id=body.team_id),
                               body.workspace_id, f"slack:{body.workspace_id}"))
        await uow.commit()
    await _published(request)
    return {"workspace_id": body.workspace_id, "connected": True}


class RuleIn(BaseModel):
    workspace_id: str
    name: str = Field(min_length=1, max_length=200)
    position: int = 100
    conditions: RoutingConditions = Field(default_factory=RoutingConditions)
    channel: str = Field(min_length=1)
    runbook_url: HttpUrl | None = None
    escalate_after_minutes: int | None = Field(default=None, ge=1)
    enabled: bool = True


@router.get("/routing-rules")
async def list_rules(request: Request, workspace_id: str) -> list[dict[str, Any]]:
    async with _service(request).engine.connect() as conn:
        rows = await conn.execute(select(routing_rules.c.definition).where(routing_rules.c.workspace_id == workspace_id))
        return sorted((r.definition for r in rows), key=lambda d: (d["position"], d["rule_id"]))


@router.post("/routing-rules", status_code=201)
async def create_rule(body: RuleIn, request: Request) -> dict[str, Any]:
    return await _save_rule(request, f"rule-{secrets.token_hex(5)}", body)


@router.put("/routing-rules/{rule_id}")
async def update_rule(rule_id: str, body: RuleIn, request: Request) -> dict[str, Any]:
    return await _save_rule(request, rule_id, body)


async def _save_rule(request: Request, rule_id: str, body: RuleIn) -> dict[str, Any]:
    await _require_workspace(request, body.workspace_id)
    rule = RoutingRuleSaved(
        rule_id=rule_id, workspace_id=body.workspace_id, name=body.name, position=body.position,
        conditions=body.conditions, channel=body.channel,
        runbook_url=str(body.runbook_url) if body.runbook_url else None,
        escalate_after_minutes=body.escalate_after_minutes, enabled=body.enabled)
    definition = rule.model_dump(mode="json")
    async with _service(request).uow() as uow:
        stmt = insert(routing_rules).values(rule_id=rule_id, workspace_id=body.workspace_id, definition=definition)
        await uow.connection.execute(stmt.on_conflict_do_update(
            index_elements=[routing_rules.c.rule_id], set_={"definition": definition, "updated_at": utcnow()}))
        uow.emit(_config_event(rule, body.workspace_id, f"rule:{rule_id}"))
        await uow.commit()
    await _published(request)
    return definition


@router.delete("/routing-rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: str, request: Request) -> Response:
    async with _service(request).uow() as uow:
        row = (await uow.connection.execute(
            delete(routing_rules).where(routing_rules.c.rule_id == rule_id).returning(routing_rules.c.workspace_id))).first()
        if row is None:
            raise HTTPException(404, "no such rule")
        uow.emit(_config_event(RoutingRuleDeleted(rule_id=rule_id, workspace_id=row.workspace_id), row.workspace_id,
                               f"rule:{rule_id}"))
        await uow.commit()
    await _published(request)
    return Response(status_code=204)
