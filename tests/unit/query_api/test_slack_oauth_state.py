"""The Slack install's CSRF state: signed, bound to its workspace, expiring (issue 11.3), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from signalcraft_query_api.domain.slack_oauth import (
    DEFAULT_STATE_TTL, InvalidState, SlackOAuthApp, SlackOAuthNotConfigured, authorize_url, sign_state, state_key,
    verify_state,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
KEY = state_key("fernet-key-1")


def test_a_state_names_the_workspace_it_was_issued_for_until_it_expires() -> None:
    state = sign_state(KEY, "ws-a", NOW, "nonce")
    assert verify_state(KEY, state, NOW) == "ws-a"
    assert verify_state(KEY, state, NOW + DEFAULT_STATE_TTL - timedelta(seconds=1)) == "ws-a"
    with pytest.raises(InvalidState, match="expired"):
        verify_state(KEY, state, NOW + DEFAULT_STATE_TTL)


def test_a_forged_or_altered_state_is_refused() -> None:
    state = sign_state(KEY, "ws-a", NOW, "nonce")
    other = sign_state(KEY, "ws-b", NOW, "nonce")
    claims_b = other.split(".")[0]
    with pytest.raises(InvalidState, match="not issued"):
        verify_state(KEY, f"{claims_b}.{state.split('.')[1]}", NOW)  # another workspace's claims, this signature
    with pytest.raises(InvalidState, match="not issued"):
        verify_state(state_key("another-key"), state, NOW)
    for junk in ("", ".", "abc", "abc.def", state + "x"):
        with pytest.raises(InvalidState):
            verify_state(KEY, junk, NOW)


def test_two_states_for_one_workspace_differ_by_their_nonce() -> None:
    assert sign_state(KEY, "ws-a", NOW, "n1") != sign_state(KEY, "ws-a", NOW, "n2")


def test_the_authorize_url_carries_client_scopes_redirect_and_state() -> None:
    app = SlackOAuthApp(client_id="cid", client_secret="cs", redirect_url="https://api.example/slack/oauth/callback",
                        signing_secret="ss", authorize_url="https://slack.example/oauth/v2/authorize")
    url = urlsplit(authorize_url(app, "the-state"))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("slack.example", "/oauth/v2/authorize")
    assert query["client_id"] == ["cid"] and query["state"] == ["the-state"]
    assert query["redirect_uri"] == ["https://api.example/slack/oauth/callback"]
    assert "chat:write" in query["scope"][0].split(",")


def test_an_unconfigured_app_says_what_to_set() -> None:
    with pytest.raises(SlackOAuthNotConfigured, match="client secret"):
        SlackOAuthApp(client_id="cid", client_secret="", redirect_url="r", signing_secret="s").check()
