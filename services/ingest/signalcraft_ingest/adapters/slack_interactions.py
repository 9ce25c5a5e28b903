"""Slack interactivity: the public `POST /slack/interactions` route (behind the same gateway as the
webhooks), the Slack connections of each team from the config view, and the v0 signature check
with slack-sdk's SignatureVerifier.

Status codes: 401 for a missing, malformed, stale or wrong signature (nothing is stored); 400 for
a body that is not Slack's form; 413 over the size limit; otherwise 200 within Slack's 3 s, with an
ephemeral message for the person when the click is refused or could not be recorded. Several
SignalCraft workspaces may share one Slack team: each connection's signing secret is tried.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import Clock, SignatureVerifier

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_runtime.logs import get_logger

from ..domain.errors import AuthenticationFailed, MalformedPayload, PayloadTooLarge, WebhookRejected
from ..domain.slack_actions import SignatureHeaders
from .request_body import read_body

if TYPE_CHECKING:
    from ..handlers import SlackActionHandler

log = get_logger(__name__)

STATUS = {AuthenticationFailed: 401, MalformedPayload: 400, PayloadTooLarge: 413}


class SlackTeams:
    """Which workspaces connected which Slack team, with their signing secrets (decrypted once)."""

    def __init__(self, config: ConfigState, secrets: SecretBox) -> None:
        self._config = config
        self._secrets = secrets
        self._decrypted: dict[str, tuple[str, str]] = {}  # workspace -> (ciphertext, secret)

    def signing_secrets(self, team_id: str) -> list[tuple[str, str]]:
        """(workspace, signing secret) of every Slack connection of `team_id`."""
        found = []
        for workspace_id, connected in list(self._config.slack.items()):
            if connected.team_id != team_id:
                continue
            cached = self._decrypted.get(workspace_id)
            if cached is None or cached[0] != connected.signing_secret_encrypted:
                try:
                    cached = (connected.signing_secret_encrypted, self._secrets.decrypt(connected.signing_secret_encrypted))
                except ValueError:  # written under another SIGNALCRAFT_SECRET_KEY: it cannot verify anything
                    log.error("slack signing secret cannot be decrypted", workspace_id=workspace_id)
                    continue
                self._decrypted[workspace_id] = cached
            found.append((workspace_id, cached[1]))
        return found


class _At(Clock):  # type: ignore[misc]
    """SignatureVerifier's clock, fixed at the request's arrival."""

    def __init__(self, now: datetime) -> None:
        self._now = now.timestamp()

    def now(self) -> float:
        return self._now


def verified_workspaces(candidates: list[tuple[str, str]], body: bytes, signed: SignatureHeaders,
                        now: datetime) -> frozenset[str]:
    """The workspaces whose signing secret produced the request's signature over the raw body."""
    return frozenset(workspace for workspace, secret in candidates if secret.strip()
                     and SignatureVerifier(secret, clock=_At(now)).is_valid(body, signed.timestamp, signed.signature))


def refused(rejected: WebhookRejected) -> JSONResponse:
    status = STATUS.get(type(rejected), 400)
    log.info("slack interaction rejected", status=status, reason=rejected.reason)
    return JSONResponse({"error": rejected.reason}, status_code=status)


def answer(ephemeral: dict[str, Any] | None) -> Response:
    """Slack wants a 200 within 3 s; a body, if any, is shown to the person who clicked."""
    return Response(status_code=200) if ephemeral is None else JSONResponse(ephemeral, status_code=200)


def slack_interactions_router(handler_of: Callable[[Request], "SlackActionHandler"], max_body_bytes: int) -> APIRouter:
    router = APIRouter(tags=["slack"])

    async def interactions(request: Request) -> Response:
        try:
            body = await read_body(request, max_body_bytes)
            headers = {k.lower(): v for k, v in request.headers.items()}
            return answer(await handler_of(request).receive(body, headers, utcnow()))
        except WebhookRejected as rejected:
            return refused(rejected)

    router.add_route("/slack/interactions", interactions, methods=["POST"])
    return router
