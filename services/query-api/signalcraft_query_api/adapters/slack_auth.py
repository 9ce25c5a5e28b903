"""Slack's auth.test: is a bot token still good? Delivery health shows the answer, so an expired or
revoked token is seen before the next alert fails to post."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

VALID = "valid"
UNREACHABLE = "unreachable"  # Slack did not answer: says nothing about the token
AUTH_TEST_TIMEOUT_S = 10


async def token_status(token: str, base_url: str) -> str:
    """"valid", Slack's error code (invalid_auth, token_revoked, account_inactive, ...) or "unreachable"."""
    client = AsyncWebClient(token=token, base_url=base_url, timeout=AUTH_TEST_TIMEOUT_S, retry_handlers=[])
    try:
        answer = await client.auth_test()
    except SlackApiError as exc:
        return str(exc.response.get("error") or UNREACHABLE)
    except Exception:  # network, timeout, a proxy's HTML: the token is unknown, not bad
        return UNREACHABLE
    return VALID if answer.get("ok") else str(answer.get("error") or UNREACHABLE)
