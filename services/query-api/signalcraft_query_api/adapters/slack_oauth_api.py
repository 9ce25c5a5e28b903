"""Slack OAuth v2 install over HTTP (issue 11.3): the connect URL, the public callback Slack sends the
browser back to, the connection's status, and disconnect."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from signalcraft_runtime.service import Service

from .. import handlers
from ..domain.config import UnknownWorkspace
from ..domain.slack_oauth import InvalidState, SlackInstallFailed, SlackOAuthApp, SlackOAuthNotConfigured
from .auth import require_token
from .integration_api import http_errors
from .ops_clients import exchange_slack_code

router = APIRouter(prefix="/api", tags=["slack"], dependencies=[Depends(require_token)])
# Slack sends the installing person's browser here: no bearer token; the signed state is the proof.
public_router = APIRouter(tags=["slack"])


def _service(request: Request) -> Service:
    return request.app.state.service


def oauth_app(request: Request) -> SlackOAuthApp:
    s: Any = _service(request).settings  # QueryApiSettings (main.py)
    return SlackOAuthApp(client_id=s.slack_client_id, client_secret=s.slack_client_secret,
                         redirect_url=s.slack_redirect_url, signing_secret=s.slack_app_signing_secret,
                         authorize_url=s.slack_authorize_url, scopes=s.slack_scopes)


class SlackInstallLink(BaseModel):
    workspace_id: str
    authorize_url: str
    state: str


class SlackInstalled(BaseModel):
    workspace_id: str
    connected: bool
    team_id: str | None
    team_name: str | None
    scope: str | None


class SlackStatus(BaseModel):
    workspace_id: str
    connected: bool
    team_id: str | None
    connected_at: datetime | None


class SlackDisconnected(BaseModel):
    workspace_id: str
    connected: bool


@router.get("/slack/install")
async def slack_install(request: Request, workspace_id: str = Query(min_length=1)) -> SlackInstallLink:
    """The "Add to Slack" URL for this workspace, with a signed CSRF state that expires in 10 minutes."""
    try:
        return SlackInstallLink(**await handlers.slack_install_link(_service(request), oauth_app(request),
                                                                    workspace_id))
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc
    except SlackOAuthNotConfigured as exc:
        raise HTTPException(409, str(exc)) from exc


@public_router.get("/slack/oauth/callback")
async def slack_oauth_callback(request: Request, code: str | None = None, state: str | None = None,
                               error: str | None = None) -> SlackInstalled:
    """Slack's redirect after the install: the code is exchanged with oauth.v2.access and the bot token
    stored encrypted. A missing, forged or expired state answers 400, as does a refused install."""
    if error:
        raise HTTPException(400, f"the Slack install was not completed: {error}")
    if not code or not state:
        raise HTTPException(400, "the callback needs code and state")
    app = oauth_app(request)
    settings: Any = _service(request).settings
    exchange = partial(exchange_slack_code, settings.slack_base_url, app)
    try:
        with http_errors():
            return SlackInstalled(**await handlers.complete_slack_install(_service(request), app, code, state,
                                                                          exchange))
    except (InvalidState, SlackInstallFailed) as exc:
        raise HTTPException(400, str(exc)) from exc
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/slack/status")
async def slack_status(request: Request, workspace_id: str = Query(min_length=1)) -> SlackStatus:
    try:
        return SlackStatus(**await handlers.slack_status(_service(request), workspace_id))
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc


@router.delete("/slack")
async def slack_disconnect(request: Request, workspace_id: str = Query(min_length=1)) -> SlackDisconnected:
    """Deletes the bot token and signing secret; nothing is posted for the workspace until it connects again."""
    try:
        with http_errors():
            return SlackDisconnected(**await handlers.disconnect_slack(_service(request), workspace_id))
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc
