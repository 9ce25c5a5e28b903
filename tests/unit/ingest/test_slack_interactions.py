"""POST /slack/interactions end to end inside ingest (HTTP route, slack-sdk's signature check,
handler, a recording delivery writer): what is accepted and stored, and what is refused and how."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fastapi import FastAPI

from signalcraft_devstack.fake_slack import click_payload, interaction_body, signed_headers
from signalcraft_ingest.adapters.slack_interactions import SlackTeams, slack_interactions_router, verified_workspaces
from signalcraft_ingest.domain.slack_actions import SignatureHeaders
from signalcraft_ingest.handlers import NOT_RECORDED, SlackActionHandler
from signalcraft_ingest.repository import Delivery
from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import GroupAction, GroupCommand, SlackConnected

BOX = SecretBox(SecretBox.generate_key())
GROUP_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
GROUP_KEY = "ws-a:sentry:checkout:prod:fp-1"
# Slack's published test vector (SIGNATURES.md), a slash-command body.
VECTOR_SECRET, VECTOR_TS = "8f742231b10e8888abcd99yyyzzz85a5", "1531420618"
VECTOR_BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
               b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
               b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
               b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class RecordingWriter:
    def __init__(self, fail: bool = False) -> None:
        self.stored: list[Delivery] = []
        self.fail = fail

    async def store(self, delivery: Delivery) -> bool:
        if self.fail:
            raise OSError("database unavailable")
        repeat = any(d.delivery_key == delivery.delivery_key for d in self.stored)
        if not repeat:
            self.stored.append(delivery)
        return not repeat


def connected(workspace: str, team: str | None, secret: str) -> SlackConnected:
    return SlackConnected(workspace_id=workspace, bot_token_encrypted=BOX.encrypt("xoxb-1"),
                          signing_secret_encrypted=BOX.encrypt(secret), team_id=team)


CONFIG = ConfigState(slack={
    "ws-a": connected("ws-a", "T1", "secret-a"), "ws-b": connected("ws-b", "T1", "secret-b"),
    "ws-c": connected("ws-c", "T2", "secret-c"), "ws-d": connected("ws-d", None, "secret-d"),
    # Written under another SIGNALCRAFT_SECRET_KEY: skipped, never a 500.
    "ws-e": SlackConnected(workspace_id="ws-e", bot_token_encrypted="x", signing_secret_encrypted="not-fernet", team_id="T1"),
})


def body_for(workspace: str = "ws-a", team: str = "T1", action_id: str = "signalcraft.ack",
             seconds: int | None = None) -> bytes:
    value: dict[str, Any] = {"w": workspace, "g": str(GROUP_ID), "k": GROUP_KEY}
    if seconds is not None:
        value["s"] = seconds
    return interaction_body(click_payload(
        team_id=team, user_id="U42", action_id=action_id, value=json.dumps(value, separators=(",", ":")),
        channel="C9", message_ts="1700000000.000100", response_url=f"https://hooks.slack.com/actions/{team}/1/x"))


@pytest.fixture
async def app() -> AsyncIterator[tuple[httpx.AsyncClient, RecordingWriter, FastAPI]]:
    writer = RecordingWriter()
    api = FastAPI()
    api.state.slack_action_handler = SlackActionHandler(SlackTeams(CONFIG, BOX), writer)  # type: ignore[arg-type]
    api.include_router(slack_interactions_router(lambda request: request.app.state.slack_action_handler, 64 * 1024))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://ingest") as client:
        yield client, writer, api


async def post(client: httpx.AsyncClient, body: bytes, secret: str | None, timestamp: int | None = None) -> httpx.Response:
    headers = signed_headers(body, secret, timestamp) if secret else {"Content-Type": "application/x-www-form-urlencoded"}
    return await client.post("/slack/interactions", content=body, headers=headers)


def test_slacks_published_test_vector_verifies_with_slack_sdk() -> None:
    at = utcnow().fromtimestamp(int(VECTOR_TS), tz=utcnow().tzinfo)
    signed = SignatureHeaders(VECTOR_TS, VECTOR_SIGNATURE)
    assert verified_workspaces([("ws", VECTOR_SECRET)], VECTOR_BODY, signed, at) == frozenset({"ws"})
    assert verified_workspaces([("ws", VECTOR_SECRET + "x")], VECTOR_BODY, signed, at) == frozenset()
    assert verified_workspaces([("ws", VECTOR_SECRET)], VECTOR_BODY + b"&x=1", signed, at) == frozenset()


async def test_a_signed_click_is_stored_with_its_command_and_answered_200_at_once(app) -> None:
    client, writer, _ = app
    body = body_for()
    response = await post(client, body, "secret-a")
    assert (response.status_code, response.content) == (200, b"")
    [delivery] = writer.stored
    assert (delivery.provider, delivery.integration_id, delivery.workspace_id) == ("slack", "slack:T1", "ws-a")
    assert delivery.body == body and {"content-type", "x-slack-request-timestamp"} <= set(delivery.headers)
    assert "x-slack-signature" not in delivery.headers
    [envelope] = delivery.events
    assert isinstance(envelope, Envelope) and isinstance(envelope.data, GroupCommand)
    assert (envelope.data.action, envelope.data.actor, envelope.key) == (GroupAction.ACK, "slack:T1/U42", GROUP_KEY)
    assert envelope.workspace_id == "ws-a"
    again = await post(client, body, "secret-a")  # the same signed body replayed: acted on once
    assert again.status_code == 200 and len(writer.stored) == 1


async def test_workspaces_sharing_a_team_each_verify_with_their_own_secret(app) -> None:
    client, writer, _ = app
    assert (await post(client, body_for("ws-b"), "secret-b")).status_code == 200
    refused = await post(client, body_for("ws-a"), "secret-b")  # ws-b's secret cannot act for ws-a
    assert refused.status_code == 200 and refused.json()["response_type"] == "ephemeral"
    assert [d.workspace_id for d in writer.stored] == ["ws-b"]


async def test_bad_missing_or_stale_signatures_and_unknown_teams_are_401_and_store_nothing(app) -> None:
    client, writer, _ = app
    body = body_for()
    cases = {
        "wrong secret": await post(client, body, "not-the-secret"),
        "no signature": await post(client, body, None),
        "stale": await post(client, body, "secret-a", int(time.time()) - 301),
        "future": await post(client, body, "secret-a", int(time.time()) + 301),
        "unknown team": await post(client, body_for(team="T404"), "secret-a"),
        "team without id": await post(client, body_for("ws-d", team="None"), "secret-d"),
        "body changed": await client.post("/slack/interactions", content=body + b"%20",
                                          headers=signed_headers(body, "secret-a")),
    }
    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 401)
    assert all(r.json()["error"] for r in cases.values())
    assert writer.stored == []


async def test_a_click_from_another_team_gets_an_ephemeral_error_never_a_command(app) -> None:
    client, writer, _ = app
    response = await post(client, body_for("ws-a", team="T2"), "secret-c")  # T2 verified, ws-a is T1's
    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral", "replace_original": False,
                               "text": "this Slack team cannot act on that alert"}
    assert writer.stored == []


async def test_unknown_actions_and_unreadable_clicks_get_an_ephemeral_error(app) -> None:
    client, writer, _ = app
    for body in (body_for(action_id="signalcraft.delete"), body_for(action_id="signalcraft.snooze.1h"),
                 body_for(action_id="signalcraft.snooze.1h", seconds=10)):
        response = await post(client, body, "secret-a")
        assert response.status_code == 200 and response.json()["response_type"] == "ephemeral", body
    assert writer.stored == []
    assert (await post(client, body_for(action_id="signalcraft.snooze.4h", seconds=4 * 3600), "secret-a")).content == b""
    assert writer.stored[0].events[0].data.action is GroupAction.SNOOZE


def link_click_body(team: str = "T1") -> bytes:
    """A rule's quick-action URL button as Slack reports its click: block_actions, a `url`, no `value`."""
    payload = click_payload(team_id=team, user_id="U42", action_id="signalcraft.link.0", value="", channel="C9",
                            message_ts="1700000000.000100", response_url=f"https://hooks.slack.com/actions/{team}/1/x")
    [action] = payload["actions"]
    del action["value"]
    action.update(block_id=f"signalcraft.links.{GROUP_ID}", url="https://grafana.example/d/x")
    return interaction_body(payload)


async def test_a_link_button_click_is_acknowledged_silently(app) -> None:
    """Slack opened the URL; the click asks nothing of us: 200, no command, no ephemeral answer."""
    client, writer, _ = app
    response = await post(client, link_click_body(), "secret-a")
    assert (response.status_code, response.content) == (200, b"")
    assert writer.stored == []
    assert (await post(client, link_click_body(), "not-the-secret")).status_code == 401  # still verified first


async def test_malformed_and_oversized_bodies_are_4xx(app) -> None:
    client, writer, _ = app
    assert (await post(client, b"payload=%7Bnot-json", "secret-a")).status_code == 400
    assert (await post(client, b"\xff", "secret-a")).status_code == 400
    assert (await post(client, b"payload=" + b"x" * 70_000, "secret-a")).status_code == 413
    assert writer.stored == []


async def test_a_click_that_cannot_be_recorded_is_told_so_not_given_a_5xx(app) -> None:
    client, _, api = app
    api.state.slack_action_handler.writer = RecordingWriter(fail=True)
    response = await post(client, body_for(), "secret-a")
    assert response.status_code == 200 and response.json()["text"] == NOT_RECORDED


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: ("payload=" + t).encode()),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                   lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                              max_size=3), max_leaves=12)
                      .map(lambda v: interaction_body({"type": "block_actions", "team": {"id": "T1"}, "x": v}))),
       timestamp=st.one_of(st.none(), st.just("now"), st.text(max_size=14)),
       signature=st.one_of(st.none(), st.just("good"), st.text(max_size=70)))
async def test_whatever_arrives_the_answer_is_200_400_401_or_413_never_a_5xx(app, body: bytes, timestamp: str | None,
                                                                          signature: str | None) -> None:
    client, writer, _ = app
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    good = signed_headers(body, "secret-a")
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = good["X-Slack-Request-Timestamp"] if timestamp == "now" else timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = good["X-Slack-Signature"] if signature == "good" else signature
    try:
        response = await client.post("/slack/interactions", content=body, headers=headers)
    except UnicodeEncodeError:
        return  # a header value httpx itself refuses to send
    assert response.status_code in (200, 400, 401, 413)
    assert writer.stored == []  # none of these names one of our groups with a readable button
