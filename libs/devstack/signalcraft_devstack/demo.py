"""`make demo`: send a real, signed Sentry webhook into the running system, show the Slack message
the fake Slack Web API received for it, then press its Ack button as Slack would (the form body
Slack posts, signed with the demo app's signing secret) and show the same message rewritten."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from .admin import sentry_headers, wait_until
from .fake_slack import click_payload, interaction_body, signed_headers
from .stack import DEMO_BOT_TOKEN

FIXTURE = Path("tests/contract/fixtures/sentry/event-alert-triggered-docs.json")
DEMO_SIGNING_SECRET = "demo-signing-secret"  # the demo Slack app's, as `make run` connects it
DEMO_USER = "U0DEMOUSER"
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def readable(mrkdwn: str) -> str:
    """Slack renders <!date^...|fallback> in the reader's time zone; here, the fallback."""
    return _DATE.sub(lambda m: m.group(1), mrkdwn)


def fresh_event(fixture: Path) -> bytes:
    """The fixture as Sentry would send one more event of the issue: a new event id, so that each
    `make demo` is a new delivery (a replayed body is refused as a duplicate)."""
    payload = json.loads(fixture.read_text())
    payload["data"]["event"]["event_id"] = uuid.uuid4().hex
    return json.dumps(payload).encode()


def render(message: dict[str, Any]) -> str:
    lines = [f"#{message['channel'].lstrip('#')}  ts={message['ts']}  (rewritten {message.get('updates', 0)}×)",
             f"  text: {message['text']}"]
    for block in message.get("blocks", []):
        if block["type"] == "header":
            lines.append(f"  ┃ {block['text']['text']}")
        elif block["type"] == "section":
            lines.append(f"  ┃ {block['text']['text']}")
            for f in block.get("fields", []):
                lines.append("  ┃   " + readable(f["text"]).replace("\n", ": "))
        elif block["type"] == "context":
            lines.append("  ┃ " + " ".join(e.get("text", "") for e in block["elements"]))
        elif block["type"] == "actions":
            lines.append("  ┃ " + "  ".join(f"[{e['text']['text']}]" for e in block["elements"]))
    return "\n".join(lines)


def main() -> None:
    urls_file = Path(os.environ.get("SIGNALCRAFT_DATA_DIR", ".data")) / "urls.json"  # where make run wrote it
    if not urls_file.exists():
        sys.exit("start the system first: make run (in another terminal)")
    urls = json.loads(urls_file.read_text())
    body = fresh_event(FIXTURE)
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
    acknowledged = click_ack(urls, api, workspace, message)
    print(f"\nThe same message after {DEMO_USER}'s Ack click:\n")
    print(render(acknowledged))


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]}


def press(urls: dict[str, Any], team: str, message: dict[str, Any], action_id: str) -> httpx.Response:
    """The click as Slack posts it to the app's interactivity URL: form body, v0 signature."""
    payload = click_payload(team_id=team, user_id=DEMO_USER, action_id=action_id, value=buttons(message)[action_id]["value"],
                            channel=message["channel"], message_ts=message["ts"],
                            response_url=f"{urls['fake_slack']}/actions/{team}/{uuid.uuid4().hex[:12]}/demo")
    body = interaction_body(payload)
    return httpx.post(f"{urls['ingest']}/slack/interactions", content=body, timeout=10,
                      headers=signed_headers(body, DEMO_SIGNING_SECRET))


def click_ack(urls: dict[str, Any], api: httpx.Client, workspace: str, message: dict[str, Any]) -> dict[str, Any]:
    """Press Ack (Unack first, if an earlier demo acknowledged the group) and wait for the rewrite."""
    # Clicks are trusted for the workspaces of the clicking Slack team: say which team the demo app is in.
    team = httpx.post(f"{urls['fake_slack']}/api/auth.test", headers={"Authorization": f"Bearer {DEMO_BOT_TOKEN}"},
                      timeout=10).json()["team_id"]
    api.post("/api/slack/connect", json={"workspace_id": workspace, "bot_token": DEMO_BOT_TOKEN,
                                         "signing_secret": DEMO_SIGNING_SECRET, "team_id": team}).raise_for_status()
    if "signalcraft.ack" not in buttons(message):
        print(f"\n(the group was acknowledged by an earlier demo: pressing Unack first)")
        message = click_until_shown(urls, team, message, "signalcraft.unack", "signalcraft.ack")
    print(f"\n{DEMO_USER} presses [Ack]: POST {urls['ingest']}/slack/interactions (signed form body, team {team})")
    return click_until_shown(urls, team, message, "signalcraft.ack", "signalcraft.unack")


def click_until_shown(urls: dict[str, Any], team: str, message: dict[str, Any], action_id: str,
                      shown_button: str) -> dict[str, Any]:
    def accepted() -> httpx.Response | None:
        response = press(urls, team, message, action_id)
        return None if response.status_code == 401 else response  # 401 until ingest has read the team

    response = wait_until(accepted, 30, interval=1.0, what="ingest accepting the signed click")
    print(f"  -> {response.status_code} {response.text or '(empty: accepted; grouping decides)'}")
    response.raise_for_status()
    started = time.monotonic()

    def rewritten() -> dict[str, Any] | None:
        messages = httpx.get(f"{urls['fake_slack']}/_fake/messages", timeout=10).json()
        same = next((m for m in messages if m["ts"] == message["ts"] and m["channel"] == message["channel"]), None)
        return same if same is not None and shown_button in buttons(same) else None

    shown = wait_until(rewritten, 30, what="the message rewritten")
    print(f"  message rewritten in place {time.monotonic() - started:.1f}s after the click")
    return shown


if __name__ == "__main__":
    main()
