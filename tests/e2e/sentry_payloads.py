"""Sentry webhooks for the tests, derived from the real payloads in tests/contract/fixtures/sentry.

Only ids, titles and the environment tag are changed, so each derived payload still has the exact
shape Sentry sends; bodies are signed like Sentry signs them (HMAC-SHA256 of the raw body).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from signalcraft_devstack.admin import sentry_headers

FIXTURES = Path(__file__).resolve().parent.parent / "contract" / "fixtures" / "sentry"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def event_alert(issue_id: str, environment: str = "production", level: str = "error", title: str | None = None) -> bytes:
    """An `event_alert` webhook for one more event of Sentry issue `issue_id`."""
    payload = load("event-alert-triggered-docs.json")
    event = payload["data"]["event"]
    event_id = uuid.uuid4().hex
    event["event_id"] = event_id
    event["issue_id"] = issue_id
    event["level"] = level
    event["title"] = title or f"ReferenceError: issue {issue_id} is not defined"
    event["web_url"] = f"https://sentry.io/organizations/test-org/issues/{issue_id}/events/{event_id}/"
    event["tags"] = [t for t in event["tags"] if t[0] != "environment"] + [["environment", environment]]
    return json.dumps(payload).encode()


def issue(action: str, issue_id: str) -> bytes:
    """An `issue` webhook (created / resolved) for issue `issue_id` of project zulip-integration-testing."""
    payload = load("issue-resolved.json" if action == "resolved" else "issue-created.json")
    payload["action"] = action
    payload["data"]["issue"]["id"] = issue_id
    return json.dumps(payload).encode()


async def send(client: httpx.AsyncClient, url: str, secret: str, body: bytes, resource: str = "event_alert",
               request_id: str | None = None) -> httpx.Response:
    return await client.post(url, content=body, headers=sentry_headers(body, secret, resource, request_id))
