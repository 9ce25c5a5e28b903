"""The outside world for the integrations/ops endpoints: posting a test webhook to ingest, exchanging
a Slack OAuth code (slack-sdk's oauth.v2.access)."""

from __future__ import annotations

from typing import Any

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ..domain.integration_ops import SignedWebhook
from ..domain.slack_oauth import SlackInstall, SlackInstallFailed, SlackOAuthApp

TEST_WEBHOOK_TIMEOUT_S = 30.0


async def post_to_ingest(ingest_url: str, webhook: SignedWebhook) -> dict[str, Any]:
    """Ingest's answer to the test webhook: where it went, the status, the delivery id or the error."""
    url = f"{ingest_url.rstrip('/')}{webhook.path}"
    try:
        async with httpx.AsyncClient(timeout=TEST_WEBHOOK_TIMEOUT_S) as client:
            response = await client.post(url, content=webhook.body, headers=webhook.headers)
    except httpx.HTTPError as exc:
        return {"url": url, "status_code": None, "delivery_id": None, "error": f"ingest unreachable: {exc!r}"}
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return {"url": url, "status_code": response.status_code, "delivery_id": body.get("delivery_id"),
            "error": body.get("error")}


async def exchange_slack_code(slack_base_url: str, app: SlackOAuthApp, code: str) -> SlackInstall:
    """oauth.v2.access with the app's client id and secret; SlackInstallFailed with Slack's error."""
    client = AsyncWebClient(base_url=slack_base_url)
    try:
        answer = await client.oauth_v2_access(client_id=app.client_id, client_secret=app.client_secret, code=code,
                                              redirect_uri=app.redirect_url)
    except SlackApiError as exc:
        raise SlackInstallFailed(f"Slack refused the install: {exc.response.get('error', 'unknown error')}") from None
    except Exception as exc:  # unreachable, not JSON...: the operator retries the install
        raise SlackInstallFailed(f"Slack could not be reached for the install: {exc!r}") from None
    token = answer.get("access_token")
    if not isinstance(token, str) or not token.startswith("xoxb-"):
        raise SlackInstallFailed("Slack's answer carries no bot token (is the app's bot scope set?)")
    team = answer.get("team") or {}
    return SlackInstall(bot_token=token, team_id=team.get("id"), team_name=team.get("name"),
                        scope=answer.get("scope"))
