"""`make demo`: send a real, signed Sentry webhook into the running system and show the Slack
message the fake Slack Web API received for it."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from .admin import sentry_headers, wait_until

FIXTURE = Path("tests/contract/fixtures/sentry/event-alert-triggered-docs.json")


def render(message: dict[str, Any]) -> str:
    lines = [f"#{message['channel'].lstrip('#')}  ts={message['ts']}", f"  text: {message['text']}"]
    for block in message.get("blocks", []):
        if block["type"] == "header":
            lines.append(f"  ┃ {block['text']['text']}")
        elif block["type"] == "section":
            lines.append(f"  ┃ {block['text']['text']}")
            for f in block.get("fields", []):
                lines.append("  ┃   " + f["text"].replace("\n", ": "))
        elif block["type"] == "context":
            lines.append("  ┃ " + " ".join(e.get("text", "") for e in block["elements"]))
        elif block["type"] == "actions":
            lines.append("  ┃ " + "  ".join(f"[{e['text']['text']}]" for e in block["elements"]))
    return "\n".join(lines)


def main() -> None:
    urls_file = Path(".data/urls.json")
    if not urls_file.exists():
        sys.exit("start the system first: make run (in another terminal)")
    urls = json.loads(urls_file.read_text())
    body = FIXTURE.read_bytes()
    headers = sentry_headers(body, urls["secret"], resource="event_alert", request_id=uuid.uuid4().hex)
    hook = f"{urls['ingest']}/webhooks/sentry/{urls['integration_id']}"
    print(f"POST {hook}  ({FIXTURE.name}, {len(body)} bytes, Sentry-Hook-Signature {headers['Sentry-Hook-Signature'][:16]}…)")

    def send() -> httpx.Response | None:
        response = httpx.post(hook, content=body, headers=headers, timeout=10)
        return None if response.status_code == 404 else response  # 404 until ingest has read the new integration

    response = wait_until(send, 30, what="ingest accepting the demo integration")
    print(f"  -> {response.status_code} {response.text}")
    response.raise_for_status()
    delivery_id = response.json()["delivery_id"]
    api = httpx.Client(base_url=urls["query_api"], headers={"Authorization": f"Bearer {urls['admin_token']}"}, timeout=10)
    workspace = urls["workspace_id"]

    def alert_of_delivery() -> dict[str, Any] | None:
        items = api.get("/api/alerts", params={"workspace_id": workspace, "limit": 200}).json()["items"]
        return next((a for a in items if a["delivery_id"] == delivery_id), None)

    alert = wait_until(alert_of_delivery, 30, what="the alert in the read model")
    def group_of_alert() -> dict[str, Any] | None:
        # The alert reaches the read model straight from ingest; its group comes through grouping.
        groups = api.get("/api/alert-groups", params={"workspace_id": workspace, "limit": 500}).json()["items"]
        return next((g for g in groups if g["group_key"] == alert["group_key"]), None)

    group = wait_until(group_of_alert, 30, what="the alert's group")
    print(f"  grouped: group {group['group_id']} · count {group['count']} · status {group['status']}")

    def slack_message() -> dict[str, Any] | None:
        messages = httpx.get(f"{urls['fake_slack']}/_fake/messages", timeout=10).json()
        tag = f"signalcraft.group.{group['group_id']}"
        return next((m for m in messages if any(b.get("block_id") == tag for b in m.get("blocks", []))), None)

    message = wait_until(slack_message, 30, what="the Slack message")
    print("\nSlack message received by the fake Slack Web API:\n")
    print(render(message))


if __name__ == "__main__":
    main()
