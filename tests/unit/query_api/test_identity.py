"""Identity decisions without a database: roles, the access verdict, API tokens, expiry, OIDC claims,
Slack actors (issue 11.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signalcraft_query_api.domain.identity import (
    SUPERUSER, AccessError, Caller, InvalidTokenRequest, Need, Role, TokenRequest, Verdict, check_grant,
    check_personal_token, decide, expiry, member_actor, mint_token, needs_touch, oidc_identity, slack_user_of,
    slack_actors, token_caller, token_id_of, token_matches, token_refusal, token_row, token_view, with_members,
)

from signalcraft_schemas.events import GroupAcknowledged

from ..builders import make_group

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
SECRET = "A" * 43


def caller(**roles: Role) -> Caller:
    return Caller(kind="token", roles={ws.replace("_", "-"): role for ws, role in roles.items()}, token_id="t")


@pytest.mark.parametrize(("held", "need", "verdict"), [
    (Role.MEMBER, Need.MEMBER, Verdict.ALLOW), (Role.MEMBER, Need.ADMIN, Verdict.FORBIDDEN),
    (Role.MEMBER, Need.OWNER, Verdict.FORBIDDEN), (Role.ADMIN, Need.ADMIN, Verdict.ALLOW),
    (Role.ADMIN, Need.OWNER, Verdict.FORBIDDEN), (Role.OWNER, Need.OWNER, Verdict.ALLOW),
    (Role.OWNER, Need.MEMBER, Verdict.ALLOW), (Role.OWNER, Need.SUPERUSER, Verdict.FORBIDDEN),
])
def test_a_role_covers_the_roles_below_it(held: Role, need: Need, verdict: Verdict):
    assert decide(caller(a=held), need, {"a"}) == verdict


def test_another_workspace_is_not_found_whatever_the_role():
    assert decide(caller(a=Role.OWNER), Need.MEMBER, {"b"}) == Verdict.NOT_FOUND
    assert decide(caller(a=Role.OWNER), Need.MEMBER, {"a", "b"}) == Verdict.NOT_FOUND  # body says a, the id is b's
    assert decide(caller(a=Role.MEMBER), Need.OWNER, {"b"}) == Verdict.NOT_FOUND  # not 403: b's ids say nothing


def test_a_request_naming_no_workspace_is_the_superusers_unless_the_route_lists_ones_own():
    assert decide(caller(a=Role.OWNER), Need.MEMBER, set()) == Verdict.FORBIDDEN
    assert decide(caller(a=Role.MEMBER), Need.MEMBER, set(), lists_own=True) == Verdict.ALLOW
    assert decide(caller(a=Role.MEMBER), Need.OWNER, set(), lists_own=True) == Verdict.FORBIDDEN


def test_an_undeclared_route_is_the_superusers_only():
    assert decide(caller(a=Role.OWNER), None, {"a"}) == Verdict.FORBIDDEN
    assert decide(SUPERUSER, None, set()) == Verdict.ALLOW
    assert decide(SUPERUSER, Need.OWNER, {"anything"}) == Verdict.ALLOW


def test_nobody_grants_above_their_own_role():
    check_grant(caller(a=Role.OWNER), "a", Role.OWNER)
    check_grant(caller(a=Role.ADMIN), "a", Role.MEMBER)
    check_grant(SUPERUSER, "z", Role.OWNER)
    with pytest.raises(AccessError):
        check_grant(caller(a=Role.ADMIN), "a", Role.OWNER)
    with pytest.raises(AccessError):
        check_grant(caller(a=Role.OWNER), "b", Role.MEMBER)


def test_a_token_is_prefix_identifiable_and_only_its_hash_is_kept():
    issued = mint_token(bytes.fromhex("0123456789ab"), SECRET)
    assert issued.token == f"sc_0123456789ab_{SECRET}"
    assert token_id_of(issued.token) == "0123456789ab"
    assert SECRET not in issued.token_hash and len(issued.token_hash) == 64
    assert token_matches(issued.token, issued.token_hash)
    assert not token_matches(issued.token[:-1] + "B", issued.token_hash)


@pytest.mark.parametrize("presented", ["", "sc_", "sc_0123456789ab", "sc_0123456789AB_" + SECRET,
                                       "xx_0123456789ab_" + SECRET, "sc_0123456789ab_" + SECRET + "x",
                                       "eyJhbGciOi.eyJzdWIiOi.sig"])
def test_anything_not_shaped_like_a_token_names_no_row(presented: str):
    assert token_id_of(presented) is None


def test_expiry_revocation_and_last_used():
    assert expiry("30d", NOW) == NOW + timedelta(days=30)
    assert expiry("7", NOW) == NOW + timedelta(days=7)  # a bare number is days
    assert expiry("PT90M", NOW) == NOW + timedelta(minutes=90)
    assert expiry(None, NOW) is None
    for bad in ("soon", "-1d", "0", "99999d"):
        with pytest.raises(InvalidTokenRequest):
            expiry(bad, NOW)
    assert token_refusal(None, None, NOW) is None
    assert token_refusal(None, NOW + timedelta(seconds=1), NOW) is None
    assert token_refusal(None, NOW, NOW) == "token expired"
    assert token_refusal(NOW, None, NOW) == "token revoked"
    assert needs_touch(None, NOW) and needs_touch(NOW - timedelta(minutes=1), NOW)
    assert not needs_touch(NOW - timedelta(seconds=59), NOW)


def test_a_token_row_becomes_its_caller_and_its_view_never_shows_the_hash():
    issued = mint_token(b"\x00" * 6, SECRET)
    row = token_row(issued, TokenRequest("ws-a", Role.ADMIN, "ci", "1h", user_id=None), SUPERUSER, NOW)
    assert row["expires_at"] == NOW + timedelta(hours=1) and row["created_by"] == "admin"
    who = token_caller(row)
    assert who.roles == {"ws-a": Role.ADMIN} and who.principal == "token:000000000000"
    view = token_view(row)
    assert "token_hash" not in view and view["prefix"] == "sc_000000000000_"
    personal = token_caller(row | {"user_id": "u-1"})
    assert personal.principal == "user:u-1"


def test_a_personal_token_is_a_members_and_carries_at_most_its_role():
    ask = TokenRequest("ws-a", Role.ADMIN, "mine", user_id="u-1")
    check_personal_token(ask, "owner")
    with pytest.raises(AccessError):
        check_personal_token(ask, "member")
    with pytest.raises(InvalidTokenRequest):
        check_personal_token(ask, None)


def test_oidc_claims_name_a_subject_and_a_verified_email_only():
    assert oidc_identity({"sub": "abc", "email": "Ann@Example.COM"}).email == "ann@example.com"
    assert oidc_identity({"sub": "abc", "email": "a@x", "email_verified": False}).email is None
    assert oidc_identity({"email": "a@x", "email_verified": True}).subject is None
    assert oidc_identity({"sub": 5}).subject is None


def test_a_slack_click_acts_as_the_member_it_is_linked_to():
    assert slack_user_of("slack:T1/U2") == ("T1", "U2")
    assert slack_user_of("api:admin") is None
    assert member_actor("slack:T1/U2", "u-9") == "user:u-9"
    assert member_actor("slack:T1/U2", None) == "slack:T1/U2"
    assert member_actor("api:bob", "u-9") == "api:bob"



def test_the_read_model_names_a_linked_slack_clicker_as_its_member():
    group = make_group(acknowledged_by="slack:T1/U2", resolved_by="slack:T1/U3")
    event = GroupAcknowledged(group=group, by="slack:T1/U2")
    assert slack_actors(event) == {"slack:T1/U2", "slack:T1/U3"}
    named = with_members(event, {"slack:T1/U2": "u-7"})
    assert named.by == "user:u-7" and named.group.acknowledged_by == "user:u-7"
    assert named.group.resolved_by == "slack:T1/U3"  # not linked: as it was
    assert slack_actors(GroupAcknowledged(group=make_group(), by="api:bob")) == set()
