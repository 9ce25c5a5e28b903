"""Reading a Slack click and the command it becomes (domain/slack_actions.py): the signature
headers and their window, Slack's form body (the real captured one included), the button value,
which workspace a click may act on, and each action."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from signalcraft_devstack.fake_slack import click_payload, interaction_body
from signalcraft_ingest.domain.errors import AuthenticationFailed, MalformedPayload
from signalcraft_ingest.domain.slack_actions import (
    ClickRefused, action_of, button_value, command_for, ephemeral, opens_a_link, read_click, read_payload,
    signature_headers, team_of,
)
from signalcraft_schemas.events import GroupAction, GroupCommand

from .helpers import RECEIVED_AT

FIXTURES = Path(__file__).resolve().parents[2] / "contract" / "fixtures" / "slack"
NOW = RECEIVED_AT
GROUP_ID = uuid.UUID("00000000-0000-7000-8000-000000000001")
SIGNATURE = "v0=" + "a" * 64


def value(workspace: str = "ws-1", seconds: int | None = None) -> str:
    raw = {"w": workspace, "g": str(GROUP_ID), "k": "ws-1:sentry:checkout:prod:fp-1"}
    if seconds is not None:
        raw["s"] = seconds
    return json.dumps(raw, separators=(",", ":"))


def click(action_id: str = "signalcraft.ack", button: str | None = None, team: str = "T1"):
    payload = click_payload(team_id=team, user_id="U42", action_id=action_id, value=button or value(),
                            channel="C9", message_ts="1700000000.000100",
                            response_url="https://hooks.slack.com/actions/T1/1/abc")
    return read_click(read_payload(interaction_body(payload)))


def headers(timestamp: int | str, signature: str = SIGNATURE) -> dict[str, str]:
    return {"x-slack-request-timestamp": str(timestamp), "x-slack-signature": signature}


def test_signature_headers_must_be_present_well_formed_and_within_five_minutes() -> None:
    now_s = int(NOW.timestamp())
    assert signature_headers(headers(now_s - 299), NOW).timestamp == str(now_s - 299)
    assert signature_headers(headers(now_s + 299), NOW).signature == SIGNATURE
    for bad in ({}, {"x-slack-signature": SIGNATURE}, {"x-slack-request-timestamp": str(now_s)},
                headers(now_s - 301), headers(now_s + 301), headers("12a"), headers("١٢٣"), headers(now_s, "v1=ab"),
                headers(now_s, "v0=" + "Z" * 64), headers(now_s, SIGNATURE + "0"), headers("9" * 40)):
        with pytest.raises(AuthenticationFailed):
            signature_headers(bad, NOW)


def test_the_real_captured_form_body_reads_as_the_fixture_json() -> None:
    body = (FIXTURES / "block-actions-button-click.form-body.txt").read_bytes()
    payload = read_payload(body)
    assert payload == json.loads((FIXTURES / "block-actions-button-click.json").read_text())
    assert team_of(payload) == "T0B0XJCTC"
    captured = read_click(payload)
    assert (captured.team_id, captured.user_id, captured.action_id, captured.value) == (
        "T0B0XJCTC", "UHN295AA0", "=tU", "recWTcxEQVKjwpIIf")
    assert captured.response_url == "https://hooks.slack.com/actions/T0B0XJCTC/814613123445/YDP2bi3aPQWs2eFE3LKj58XC"
    assert (captured.channel_id, captured.message_ts) == ("CDCQLNMEF", "1572428564.002300")
    assert captured.actor == "slack:T0B0XJCTC/UHN295AA0"
    with pytest.raises(ClickRefused, match="unknown action"):  # not one of our buttons
        command_for(captured, frozenset({"ws-1"}), NOW)


def test_bolts_block_actions_payload_with_a_message_reads_too() -> None:
    payload = json.loads((FIXTURES / "block-actions-button-with-message-bolt-test.json").read_text())
    read = read_click(payload)
    assert (read.team_id, read.user_id, read.channel_id, read.message_ts) == ("T0G9PQBBK", "U111", "C111",
                                                                               "1678252213.679169")


@pytest.mark.parametrize("body", [b"", b"payload=", b"payload=%7B", b"payload=%5B1%5D", b"other=1", b"\xff\xfe",
                                  b"payload=%7B%7D&payload=%7B%7D", b"a=" + b"&b=" * 30])
def test_a_body_that_is_not_slacks_form_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        read_payload(body)


@pytest.mark.parametrize("team", [{}, {"id": ""}, {"id": 7}, {"id": "T1\u0000"}, {"id": "T" * 200}, "T1", None])
def test_a_payload_without_a_readable_team_is_malformed(team: object) -> None:
    with pytest.raises(MalformedPayload):
        team_of({"team": team})


def test_only_block_actions_with_a_user_and_an_action_are_clicks() -> None:
    good = click_payload(team_id="T1", user_id="U1", action_id="signalcraft.ack", value=value(), channel="C1",
                         message_ts="1.1", response_url="https://hooks.slack.com/a")
    for broken in ({**good, "type": "view_submission"}, {**good, "actions": []}, {**good, "user": {}},
                   {**good, "actions": [{"action_id": "signalcraft.ack"}]}, {**good, "user": {"id": "U1\n"}}):
        with pytest.raises(ClickRefused):
            read_click(broken)


def test_each_button_becomes_its_command_with_the_actor_and_where_to_answer() -> None:
    for action_id, action in [("signalcraft.ack", GroupAction.ACK), ("signalcraft.unack", GroupAction.UNACK),
                              ("signalcraft.unsnooze", GroupAction.UNSNOOZE), ("signalcraft.resolve", GroupAction.RESOLVE)]:
        envelope = command_for(click(action_id), frozenset({"ws-1"}), NOW)
        command = envelope.data
        assert isinstance(command, GroupCommand)
        assert (command.action, command.group_id, command.group_key) == (action, GROUP_ID, "ws-1:sentry:checkout:prod:fp-1")
        assert command.actor == "slack:T1/U42" and command.snooze_until is None
        assert command.reply_to is not None and command.reply_to.response_url == "https://hooks.slack.com/actions/T1/1/abc"
        assert (command.reply_to.channel, command.reply_to.user) == ("C9", "U42")
        assert (envelope.workspace_id, envelope.key, envelope.occurred_at) == ("ws-1", command.group_key, NOW)


def test_a_snooze_button_snoozes_for_its_seconds() -> None:
    for action_id in ("signalcraft.snooze", "signalcraft.snooze.4h"):
        command = command_for(click(action_id, value(seconds=4 * 3600)), frozenset({"ws-1"}), NOW).data
        assert command.action is GroupAction.SNOOZE and command.snooze_until == NOW + timedelta(hours=4)
    for seconds in (None, 0, 59, 31 * 24 * 3600):
        with pytest.raises(ClickRefused):
            command_for(click("signalcraft.snooze.1h", value(seconds=seconds)), frozenset({"ws-1"}), NOW)
    with pytest.raises(ClickRefused):
        command_for(click("signalcraft.snooze.1h", value().replace("}", ',"s":true}')), frozenset({"ws-1"}), NOW)


def test_a_click_acts_only_on_a_workspace_whose_signing_secret_verified_it() -> None:
    assert command_for(click(), frozenset({"ws-1", "ws-2"}), NOW).workspace_id == "ws-1"
    for verified in (frozenset(), frozenset({"ws-2"})):
        with pytest.raises(ClickRefused, match="cannot act"):
            command_for(click(), verified, NOW)
    with pytest.raises(ClickRefused, match="cannot act"):
        command_for(click(button=value(workspace="ws-2")), frozenset({"ws-1"}), NOW)


def test_unknown_actions_and_unreadable_button_values_are_refused() -> None:
    for action_id in ("signalcraft.delete", "signalcraft.snooze_1h", "ack", "signalcraft.ackx"):
        with pytest.raises(ClickRefused, match="unknown action"):
            action_of(action_id)
    for raw in ("", "not json", str(GROUP_ID), "[1]", '{"w":"ws-1"}', '{"w":"ws-1","g":"nope","k":"k"}',
                '{"w":"","g":"%s","k":"k"}' % GROUP_ID, '{"w":"ws-1","g":"%s","k":7}' % GROUP_ID):
        with pytest.raises(ClickRefused):
            button_value(raw)


def test_only_a_link_buttons_click_opens_a_link() -> None:
    assert opens_a_link(click("signalcraft.link.0", button=""))
    assert opens_a_link(click("signalcraft.link.3"))
    for action_id in ("signalcraft.ack", "signalcraft.snooze.1h", "signalcraft.links", "signalcraft.linkx.0"):
        assert not opens_a_link(click(action_id))


def test_the_same_press_is_the_same_command_and_delivery_key() -> None:
    pressed = click()
    first, again = (command_for(pressed, frozenset({"ws-1"}), NOW) for _ in range(2))
    assert first.data.command_id == again.data.command_id
    assert pressed.delivery_key.startswith("T1:") and pressed.action_ts in pressed.delivery_key
    assert command_for(click(), frozenset({"ws-1"}), NOW).data.command_id != first.data.command_id


def test_an_ephemeral_answer_leaves_the_clicked_message_alone() -> None:
    assert ephemeral("no") == {"response_type": "ephemeral", "replace_original": False, "text": "no"}
