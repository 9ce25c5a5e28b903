"""A small client of the config API, for `make run`'s demo workspace and for the tests."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import httpx


class AdminClient:
    def __init__(self, base_url: str, token: str) -> None:
        self._client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def _ok(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self._ok(self._client.get(path, params=params))

    def create_workspace(self, workspace_id: str, name: str, default_channel: str | None = "#alerts", **extra: Any) -> Any:
        return self._ok(self._client.put(f"/api/workspaces/{workspace_id}", json={
            "name": name, "workspace_id": workspace_id, "default_channel": default_channel, **extra}))

    def add_integration(self, workspace_id: str, provider: str, name: str, secret: str | None = None,
                        options: dict[str, str] | None = None) -> Any:
        return self._ok(self._client.post("/api/integrations", json={
            "workspace_id": workspace_id, "provider": provider, "name": name, "secret": secret, "options": options or {}}))

    def connect_slack(self, workspace_id: str, bot_token: str, signing_secret: str, team_id: str | None = None) -> Any:
        """`team_id`: the Slack team whose button clicks may act on this workspace's groups."""
        return self._ok(self._client.post("/api/slack/connect", json={
            "workspace_id": workspace_id, "bot_token": bot_token, "signing_secret": signing_secret,
            "team_id": team_id}))

    def add_rule(self, workspace_id: str, name: str, channel: str, **rule: Any) -> Any:
        return self._ok(self._client.post("/api/routing-rules", json={
            "workspace_id": workspace_id, "name": name, "channel": channel, **rule}))

    def close(self) -> None:
        self._client.close()


def sentry_headers(body: bytes, secret: str, resource: str = "event_alert", request_id: str | None = None) -> dict[str, str]:
    """The headers Sentry's integration platform sends, signed as SIGNATURES.md describes."""
    return {
        "Content-Type": "application/json",
        "Request-ID": request_id or uuid.uuid4().hex,
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def wait_until(predicate: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached in {timeout}s (last: {last!r})")
