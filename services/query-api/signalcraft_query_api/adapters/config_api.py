"""The configuration endpoints (workspaces, integrations, the Slack connection, routing rules) the
CLI and the frontend call. Writes go to `handlers.py`; lists read the config rows directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field, HttpUrl, model_validator

from signalcraft_policies.routing import InvalidRule
from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.service import Service
from signalcraft_schemas.durations import DurationSeconds
from signalcraft_schemas import NormalizedAlert
from signalcraft_schemas.events import (
    QuickAction, RoutingConditions, RoutingRuleSaved, SeverityBump, WorkspaceConfigured,
)

from .. import handlers
from ..domain.config import (
    InvalidIntegration, NewIntegration, NotPublished, RuleDefinition, RuleInAnotherWorkspace, SecretInUse,
    SlackCredentials, UnknownProvider, UnknownRule, UnknownWorkspace, WorkspaceSettings, rules_in_order,
)
from ..domain.rule_test import RuleTestAnswer, UnreadableSample, explain_alerts, normalize_sample
from ..repository.config import ConfigRepository
from ..domain.identity import Caller
from .auth import current_caller, require_token
from .request_bodies import Credential, Position, RequestBody

router = APIRouter(prefix="/api", tags=["config"], dependencies=[Depends(require_token)])

STATUS_OF_ERROR: dict[type[Exception], int] = {
    UnknownProvider: 422, InvalidIntegration: 422, UnknownWorkspace: 404, UnknownRule: 404,
    SecretInUse: 409, RuleInAnotherWorkspace: 409, handlers.SecretKeyMissing: 500,
    InvalidRule: 422, UnreadableSample: 422,
}
# How soon to look again when a committed change is not yet on the config topic.
NOT_PUBLISHED_RETRY_AFTER_S = 5


@contextmanager
def _http_errors() -> Iterator[None]:
    """A refused command answers with its status code and the reason. A change committed but not yet
    published answers 503 with Retry-After, says it is committed, and carries the answer it would
    have had (a new integration's secret is shown only then)."""
    try:
        yield
    except tuple(STATUS_OF_ERROR) as exc:
        raise HTTPException(STATUS_OF_ERROR[type(exc)], str(exc)) from exc
    except NotPublished as exc:
        raise HTTPException(503, {"error": str(exc), "committed": True, "result": jsonable_encoder(exc.result)},
                            headers={"Retry-After": str(NOT_PUBLISHED_RETRY_AFTER_S)}) from exc


def _service(request: Request) -> Service:
    return request.app.state.service


async def config_rows(request: Request) -> AsyncIterator[ConfigRepository]:
    async with _service(request).engine.connect() as conn:
        yield ConfigRepository(conn)


class SeverityBumpIn(RequestBody):
    """`count` alerts of one group `within` a duration in one of `environments` raise its severity one level."""

    count: int = Field(ge=2, le=100_000)
    within: DurationSeconds = Field(le=7 * 24 * 3600)
    environments: list[str] = Field(default_factory=lambda: ["prod"], min_length=1, max_length=50)

    def setting(self) -> SeverityBump:
        return SeverityBump(count=self.count, within_seconds=self.within,
                            environments=[e.strip().lower() for e in self.environments if e.strip()] or ["prod"])


class WorkspaceIn(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    workspace_id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    dedup_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    auto_close_minutes: int = Field(default=24 * 60, ge=1, le=30 * 24 * 60)
    default_channel: str | None = None
    # Durations with seconds resolution ("90s", "15m", "4h", ISO 8601, or seconds); they win over the minutes.
    dedup_window: DurationSeconds | None = Field(default=None, le=7 * 24 * 3600)
    auto_close: DurationSeconds | None = Field(default=None, le=30 * 24 * 3600)
    flap_threshold: int = Field(default=3, ge=1, le=1000)
    flap_window: DurationSeconds = Field(default=3600, le=7 * 24 * 3600)
    flap_quiet: DurationSeconds = Field(default=1800, le=7 * 24 * 3600)
    severity_bump: SeverityBumpIn | None = Field(default=None, description="Off when unset (issue 10.3)")
    escalation_policy_id: str | None = Field(default=None, description="The default route's escalation policy")

    def settings(self) -> WorkspaceSettings:
        return WorkspaceSettings(name=self.name, dedup_window_minutes=self.dedup_window_minutes,
                                 auto_close_minutes=self.auto_close_minutes, default_channel=self.default_channel,
                                 dedup_window_seconds=self.dedup_window, auto_close_seconds=self.auto_close,
                                 flap_threshold=self.flap_threshold, flap_window_seconds=self.flap_window,
                                 flap_quiet_seconds=self.flap_quiet,
                                 severity_bump=self.severity_bump.setting() if self.severity_bump else None,
                                 escalation_policy_id=self.escalation_policy_id)


class Workspace(BaseModel):
    """A stored workspace (query.workspaces): its settings as last configured, and when it was created."""

    workspace_id: str
    name: str
    dedup_window_minutes: int
    auto_close_minutes: int
    default_channel: str | None
    dedup_window_seconds: int | None = Field(description="Wins over the minutes when set")
    auto_close_seconds: int | None = Field(description="Wins over the minutes when set")
    flap_threshold: int | None = Field(description="None only for a workspace stored before flap damping: defaults")
    flap_window_seconds: int | None
    flap_quiet_seconds: int | None
    severity_bump: SeverityBump | None = Field(description="None: no severity bump")
    escalation_policy_id: str | None = Field(description="The default route's escalation policy")
    created_at: datetime


@router.post("/workspaces", status_code=201, response_model=WorkspaceConfigured)
async def create_workspace(body: WorkspaceIn, request: Request) -> dict[str, Any]:
    """The workspace's settings as configured (and as the other services receive them)."""
    with _http_errors():
        return await handlers.create_workspace(_service(request), body.workspace_id, body.settings())


@router.put("/workspaces/{workspace_id}", response_model=WorkspaceConfigured)
async def update_workspace(workspace_id: str, body: WorkspaceIn, request: Request) -> dict[str, Any]:
    with _http_errors():
        return await handlers.save_workspace(_service(request), workspace_id, body.settings())


@router.get("/workspaces", response_model=list[Workspace])
async def list_workspaces(rows: ConfigRepository = Depends(config_rows),
                          caller: Caller = Depends(current_caller)) -> list[dict[str, Any]]:
    """Every workspace for the admin token; otherwise the caller's own."""
    return [w for w in await rows.workspaces() if caller.superuser or w["workspace_id"] in caller.roles]


class IntegrationIn(RequestBody):
    workspace_id: str
    provider: str
    name: str = Field(min_length=1, max_length=200)
    options: dict[str, str] = Field(default_factory=dict)
    secret: Credential | None = Field(default=None, min_length=8, description="Use the provider's own secret (e.g. Sentry's client secret); generated when omitted")


class Integration(BaseModel):
    """A stored integration, without its secret (stored encrypted only) nor the secret's fingerprint."""

    integration_id: str
    workspace_id: str
    provider: str
    name: str
    options: dict[str, str]
    enabled: bool
    created_at: datetime


class IntegrationCreated(BaseModel):
    """What to configure on the provider's side."""

    integration_id: str
    workspace_id: str
    provider: str
    name: str
    webhook_url: str
    secret: str = Field(description="Shown this once; afterwards it is stored encrypted only")
    events_v2_url: str | None = Field(default=None, description="PagerDuty only (absent otherwise): its Events API "
                                                                 "v2 endpoint")


# Unset fields stay out of the answer: events_v2_url is there for PagerDuty only, as it always was.
@router.post("/integrations", status_code=201, response_model=IntegrationCreated, response_model_exclude_unset=True)
async def create_integration(body: IntegrationIn, request: Request) -> dict[str, Any]:
    """Returns the webhook URL and the secret, once; afterwards the secret is stored encrypted only."""
    new = NewIntegration(workspace_id=body.workspace_id, provider=body.provider, name=body.name,
                         options=body.options, secret=body.secret)
    with _http_errors():
        return await handlers.add_integration(_service(request), new, request.app.state.public_ingest_url)


@router.get("/integrations", response_model=list[Integration])
async def list_integrations(workspace_id: str, rows: ConfigRepository = Depends(config_rows)) -> list[dict[str, Any]]:
    return await rows.integrations(workspace_id)


class SlackIn(RequestBody):
    workspace_id: str
    bot_token: Credential
    signing_secret: Credential
    team_id: str | None = None


class SlackConnection(BaseModel):
    workspace_id: str
    connected: bool


@router.post("/slack/connect", status_code=201, response_model=SlackConnection)
async def connect_slack(body: SlackIn, request: Request) -> dict[str, Any]:
    """The credentials are stored encrypted and never answered."""
    credentials = SlackCredentials(workspace_id=body.workspace_id, bot_token=body.bot_token,
                                   signing_secret=body.signing_secret, team_id=body.team_id)
    with _http_errors():
        return await handlers.connect_slack(_service(request), credentials)


class RuleIn(RequestBody):
    workspace_id: str
    name: str = Field(min_length=1, max_length=200)
    position: Position = 100
    conditions: RoutingConditions = Field(default_factory=RoutingConditions)
    channel: str = Field(min_length=1)
    runbook_url: HttpUrl | None = None
    escalate_after_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    escalate_after: DurationSeconds | None = Field(default=None, le=7 * 24 * 3600, description="Wins over the minutes")
    enabled: bool = True
    escalation_policy_id: str | None = Field(default=None, description="Wins over escalate_after (issue 10.1)")
    continue_matching: bool = Field(default=False, alias="continue", description=(
        "Alertmanager's continue: after this rule matches, later matching rules route the group too"))
    mention: str = Field(default="here_for_high", description="none | here_for_high | usergroup:<S...>")
    quick_actions: list[QuickAction] = Field(default_factory=list, max_length=5, description=(
        "URL buttons: {label, url_template}, the template may use {group_id} {project} {environment} {source} "
        "{fingerprint} {title} {tag.<key>}"))

    model_config = {"populate_by_name": True}

    def definition(self) -> RuleDefinition:
        return RuleDefinition(
            workspace_id=self.workspace_id, name=self.name, position=self.position, conditions=self.conditions,
            channel=self.channel, runbook_url=str(self.runbook_url) if self.runbook_url else None,
            escalate_after_minutes=self.escalate_after_minutes, enabled=self.enabled,
            escalate_after_seconds=self.escalate_after, escalation_policy_id=self.escalation_policy_id,
            continue_matching=self.continue_matching, mention=self.mention, quick_actions=tuple(self.quick_actions))


class RuleQuickAction(BaseModel):
    """A rule's URL button, as stored: its template is filled from each group."""

    label: str
    url_template: str


class RoutingRule(RoutingRuleSaved):
    """A rule as stored: its config event, as the router receives it."""

    quick_actions: list[RuleQuickAction] = Field(default_factory=list)  # type: ignore[assignment]


@router.get("/routing-rules", response_model=list[RoutingRule])
async def list_rules(workspace_id: str, rows: ConfigRepository = Depends(config_rows)) -> list[dict[str, Any]]:
    """In the order the router evaluates them: by position, then id."""
    return rules_in_order(await rows.rule_definitions(workspace_id))


@router.post("/routing-rules", status_code=201, response_model=RoutingRule)
async def create_rule(body: RuleIn, request: Request) -> dict[str, Any]:
    with _http_errors():
        return await handlers.create_rule(_service(request), body.definition())


@router.put("/routing-rules/{rule_id}", response_model=RoutingRule)
async def update_rule(rule_id: str, body: RuleIn, request: Request) -> dict[str, Any]:
    with _http_errors():
        return await handlers.save_rule(_service(request), rule_id, body.definition())


@router.delete("/routing-rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: str, request: Request) -> Response:
    with _http_errors():
        await handlers.delete_rule(_service(request), rule_id)
    return Response(status_code=204)


class RuleTestIn(RequestBody):
    """A sample alert: a NormalizedAlert, or a provider's raw payload (normalized as ingest would)."""

    workspace_id: str
    alert: NormalizedAlert | None = None
    provider: str | None = None
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict, description="The webhook's headers, where the provider "
                                                                      "reads them (e.g. sentry-hook-resource)")
    options: dict[str, str] = Field(default_factory=dict, description="The integration's options (default_project...)")

    @model_validator(mode="after")
    def _one_sample(self) -> "RuleTestIn":
        if (self.alert is None) == (self.provider is None):
            raise ValueError("give either `alert` (a NormalizedAlert) or `provider` with its raw `payload`")
        if self.provider is not None and self.payload is None:
            raise ValueError("`provider` needs the raw `payload` it sent")
        return self


@router.post("/routing-rules/test")
async def test_rules(body: RuleTestIn, rows: ConfigRepository = Depends(config_rows)) -> RuleTestAnswer:
    """Which rules take the sample, in order, and for each rule that does not, the first condition that failed."""
    with _http_errors():
        workspace = next((w for w in await rows.workspaces() if w["workspace_id"] == body.workspace_id), None)
        if workspace is None:
            raise UnknownWorkspace(f"unknown workspace {body.workspace_id!r}")
        alerts = [body.alert] if body.alert is not None else normalize_sample(
            body.provider or "", body.payload, utcnow(), body.workspace_id, body.headers, body.options)
        rules = [RoutingRuleSaved.model_validate(d) for d in await rows.rule_definitions(body.workspace_id)]
        return explain_alerts(alerts, rules, workspace["default_channel"])
