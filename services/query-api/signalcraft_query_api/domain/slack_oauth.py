"""Slack OAuth v2 install: the connect URL with its CSRF `state`, and what the callback may trust.

The `state` is the workspace it was issued for, its expiry and a nonce, signed (HMAC-SHA256) with a
key derived from SIGNALCRAFT_SECRET_KEY: the callback needs no stored session, a state made for one
workspace cannot install into another, and one from a stranger or past its expiry is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

DEFAULT_STATE_TTL = timedelta(minutes=10)
# What SignalCraft calls: chat.postMessage/update (also in public channels it has not joined),
# conversations.history/replies (finding its own messages again).
DEFAULT_SCOPES = "chat:write,chat:write.public,channels:history,groups:history"


class InvalidState(ValueError):
    """The callback's `state` is malformed, forged, or expired (400)."""


class SlackOAuthNotConfigured(RuntimeError):
    """Client id, client secret or redirect URL missing (409: an operator must set them first)."""


class SlackInstallFailed(RuntimeError):
    """Slack refused the code exchange (400 with Slack's error, e.g. invalid_code)."""


@dataclass(frozen=True)
class SlackOAuthApp:
    client_id: str
    client_secret: str
    redirect_url: str
    signing_secret: str  # the Slack app's, for its button clicks; OAuth does not return one
    authorize_url: str = "https://slack.com/oauth/v2/authorize"
    scopes: str = DEFAULT_SCOPES

    def check(self) -> None:
        missing = [name for name, value in (("client id", self.client_id), ("client secret", self.client_secret),
                                            ("redirect URL", self.redirect_url),
                                            ("signing secret", self.signing_secret)) if not value]
        if missing:
            raise SlackOAuthNotConfigured(f"Slack OAuth is not configured: set the Slack app's {', '.join(missing)} "
                                          "(SIGNALCRAFT_SLACK_CLIENT_ID, _CLIENT_SECRET, _REDIRECT_URL, "
                                          "_APP_SIGNING_SECRET)")


@dataclass(frozen=True)
class SlackInstall:
    """What oauth.v2.access answered: the bot token and the Slack team it is for."""

    bot_token: str
    team_id: str | None
    team_name: str | None = None
    scope: str | None = None


def state_key(secret_key: str) -> bytes:
    """The key states are signed with: derived from SIGNALCRAFT_SECRET_KEY, never the key itself."""
    return hashlib.sha256(b"signalcraft slack oauth state\0" + secret_key.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(key: bytes, workspace_id: str, now: datetime, nonce: str, ttl: timedelta = DEFAULT_STATE_TTL) -> str:
    claims = _b64(json.dumps({"w": workspace_id, "e": int((now + ttl).timestamp()), "n": nonce},
                             separators=(",", ":")).encode())
    return f"{claims}.{_b64(hmac.new(key, claims.encode(), hashlib.sha256).digest())}"


def verify_state(key: bytes, state: str, now: datetime) -> str:
    """The workspace the state was issued for; InvalidState unless it is ours and not expired."""
    claims, _, signature = state.partition(".")
    expected = _b64(hmac.new(key, claims.encode(), hashlib.sha256).digest())
    if not claims or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidState("the state was not issued by SignalCraft (start the install again)")
    try:
        decoded = json.loads(_unb64(claims))
        workspace_id, expires = str(decoded["w"]), int(decoded["e"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidState("the state is malformed") from None
    if now.timestamp() >= expires:
        raise InvalidState("the install link has expired (start the install again)")
    return workspace_id


def authorize_url(app: SlackOAuthApp, state: str) -> str:
    query = urlencode({"client_id": app.client_id, "scope": app.scopes, "redirect_uri": app.redirect_url,
                       "state": state})
    return f"{app.authorize_url}?{query}"
