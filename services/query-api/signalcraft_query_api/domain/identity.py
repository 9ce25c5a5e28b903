"""Who calls the API and what they may do: roles, API tokens, OIDC claims, and the access decision
every request goes through (issue 11.1).

Roles are per workspace and ordered: member (read; ack, snooze, resolve; notes; assign) < admin (also
rules, escalation policies, integrations, Slack) < owner (also members and tokens). The static admin
token is the bootstrap super-user: every workspace, and the few cross-workspace endpoints.

API tokens look like `sc_<token id>_<secret>`: the token id (12 hex) identifies the row and shows in
lists and in the CLI; only the SHA-256 of the whole token is stored (the secret has 256 random bits,
so a fast hash is enough: nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from signalcraft_schemas.durations import InvalidDuration, parse_duration

TOKEN_PREFIX = "sc_"
TOKEN_PATTERN = re.compile(r"^sc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token: a busy token does not write on every request.
LAST_USED_EVERY = timedelta(seconds=60)
MAX_TOKEN_LIFETIME = timedelta(days=3650)


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Need(StrEnum):
    """What a route asks of its caller: a role in the workspace the request names, or the super-user."""

    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"
    SUPERUSER = "superuser"

    @property
    def role(self) -> Role | None:
        return None if self == Need.SUPERUSER else Role(self.value)


class Verdict(StrEnum):
    ALLOW = "allow"
    FORBIDDEN = "forbidden"  # 403: a workspace of yours, a role too low
    NOT_FOUND = "not_found"  # 404: another workspace's ids look like no ids at all


class AccessError(Exception):
    """A refused identity change (e.g. granting a role above one's own): 403."""


class InvalidTokenRequest(ValueError):
    """422: an expiry that is not a duration, a personal token for a non-member."""


class UnknownMember(LookupError):
    """404: no such member of the workspace, no such token."""


class IdentityInUse(ValueError):
    """409: the OIDC subject or Slack user is already linked to another user."""


@dataclass(frozen=True)
class NewMember:
    email: str
    role: Role
    name: str | None = None
    oidc_subject: str | None = None
    slack_team_id: str | None = None
    slack_user_id: str | None = None


def user_row(member: NewMember, user_id: str, now: datetime) -> dict[str, Any]:
    """The user a new membership adds (or, with this e-mail, updates: only the fields given)."""
    return {"user_id": user_id, "email": normalise_email(member.email), "name": member.name,
            "oidc_subject": member.oidc_subject, "slack_team_id": member.slack_team_id,
            "slack_user_id": member.slack_user_id, "created_at": now}


@dataclass(frozen=True)
class TokenRequest:
    workspace_id: str
    role: Role
    name: str
    expires: str | None = None  # "30d", "12h", ISO 8601; None: never
    user_id: str | None = None  # a personal token acts as this member; None: a service token


def token_row(issued: IssuedToken, request: TokenRequest, caller: Caller, now: datetime) -> dict[str, Any]:
    return {"token_id": issued.token_id, "token_hash": issued.token_hash, "workspace_id": request.workspace_id,
            "role": request.role.value, "name": request.name, "user_id": request.user_id,
            "created_by": caller.principal or "admin", "created_at": now, "expires_at": expiry(request.expires, now),
            "revoked_at": None, "last_used_at": None}


def check_personal_token(request: TokenRequest, member_role: str | None) -> None:
    """A personal token is its member's, and carries at most the member's role."""
    if request.user_id is None:
        return
    if member_role is None:
        raise InvalidTokenRequest(f"user {request.user_id!r} is not a member of {request.workspace_id}")
    if not Role(member_role).covers(request.role):
        raise AccessError(f"a personal token carries at most its user's role ({member_role})")


@dataclass(frozen=True)
class Caller:
    """The authenticated caller. `roles`: workspace -> role (one entry for an API token; every
    membership for an OIDC user; empty for the super-user, who needs none)."""

    kind: Literal["superuser", "token", "oidc"]
    roles: Mapping[str, Role] = field(default_factory=dict)
    user_id: str | None = None
    token_id: str | None = None
    name: str = ""

    @property
    def superuser(self) -> bool:
        return self.kind == "superuser"

    def role_in(self, workspace_id: str) -> Role | None:
        return Role.OWNER if self.superuser else self.roles.get(workspace_id)

    def workspaces_with(self, role: Role) -> list[str]:
        """The workspaces where the caller holds at least `role` (list endpoints show only these)."""
        return sorted(ws for ws, held in self.roles.items() if held.covers(role))

    @property
    def principal(self) -> str | None:
        """Who acts, as commands and audit fields record it: "user:<id>" (a personal token, an OIDC
        user), "token:<id>" (a service token); None for the super-user (the CLI names itself with `by`)."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return None


SUPERUSER = Caller(kind="superuser", name="admin")


def decide(caller: Caller, need: Need | None, named: set[str], lists_own: bool = False) -> Verdict:
    """The access decision. `named`: the workspaces the request names (path, query or body
    `workspace_id`, and the workspace of each id in the path). A route without a declared need is the
    super-user's (deny by default). Naming no workspace is a cross-workspace request, the
    super-user's too, unless the route lists only the caller's own workspaces (`lists_own`)."""
    if caller.superuser:
        return Verdict.ALLOW
    if need is None or need.role is None:
        return Verdict.FORBIDDEN
    if any(ws not in caller.roles for ws in named):
        return Verdict.NOT_FOUND
    if not named:
        return Verdict.ALLOW if lists_own and caller.workspaces_with(need.role) else Verdict.FORBIDDEN
    return Verdict.ALLOW if all(caller.roles[ws].covers(need.role) for ws in named) else Verdict.FORBIDDEN


def check_grant(caller: Caller, workspace_id: str, role: Role) -> None:
    """A caller grants (a membership, a token) at most the role it holds in that workspace."""
    held = caller.role_in(workspace_id)
    if held is None or not held.covers(role):
        raise AccessError(f"cannot grant {role.value} in {workspace_id}: above your own role")


# --- API tokens --------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str  # shown once
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token(id_bytes: bytes, secret: str) -> IssuedToken:
    """`id_bytes`: 6 random bytes; `secret`: 43 url-safe characters (secrets.token_urlsafe(32))."""
    token_id = id_bytes.hex()
    token = f"{TOKEN_PREFIX}{token_id}_{secret}"
    if TOKEN_PATTERN.match(token) is None:
        raise ValueError("a token needs 6 id bytes and a 43-character url-safe secret")
    return IssuedToken(token_id, token, token_hash(token))


def token_id_of(presented: str) -> str | None:
    """The row a presented token names, or None when it is not shaped like ours."""
    found = TOKEN_PATTERN.match(presented)
    return found.group(1) if found else None


def token_matches(presented: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(presented), stored_hash)


def token_refusal(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str | None:
    """Why a token with the right secret is still refused, or None."""
    if revoked_at is not None:
        return "token revoked"
    if expires_at is not None and expires_at <= now:
        return "token expired"
    return None


def expiry(expires: str | None, now: datetime) -> datetime | None:
    """"30d", "12h", "PT90M" (a bare number is days) -> when the token stops working; None: never."""
    if expires is None:
        return None
    try:
        lifetime = parse_duration(f"{expires}d" if expires.strip().isdigit() else expires)
    except InvalidDuration as exc:
        raise InvalidTokenRequest(f"expires: {exc}") from None
    if lifetime <= timedelta(0) or lifetime > MAX_TOKEN_LIFETIME:
        raise InvalidTokenRequest("expires: between 1 second and 10 years")
    return now + lifetime


def needs_touch(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY


def token_caller(row: Mapping[str, Any]) -> Caller:
    return Caller(kind="token", roles={row["workspace_id"]: Role(row["role"])}, user_id=row["user_id"],
                  token_id=row["token_id"], name=row["name"])


def token_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A token as lists show it: never its hash; its prefix so a leaked token can be found."""
    return {key: row[key] for key in ("token_id", "workspace_id", "role", "name", "user_id", "created_by",
                                      "created_at", "expires_at", "revoked_at", "last_used_at")} | {
        "prefix": f"{TOKEN_PREFIX}{row['token_id']}_"}


# --- OIDC ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OidcIdentity:
    subject: str | None
    email: str | None


def oidc_identity(claims: Mapping[str, Any]) -> OidcIdentity:
    """What a verified ID/access token says about who it is. An e-mail its issuer marks unverified
    (`email_verified: false`) does not count: anyone could have typed it."""
    subject = claims.get("sub") if isinstance(claims.get("sub"), str) and claims.get("sub") else None
    email = claims.get("email")
    if not isinstance(email, str) or not email or claims.get("email_verified") is False:
        email = None
    return OidcIdentity(subject, normalise_email(email) if email else None)


def oidc_caller(user: Mapping[str, Any], memberships: Mapping[str, Role]) -> Caller:
    return Caller(kind="oidc", roles=dict(memberships), user_id=user["user_id"], name=user["email"])


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- Slack ---------------------------------------------------------------------------------------

SLACK_ACTOR = re.compile(r"^slack:([^/]+)/(.+)$")


def slack_user_of(actor: str | None) -> tuple[str, str] | None:
    """(team, user) of a Slack click's actor "slack:<team>/<user>"; None for any other actor."""
    found = SLACK_ACTOR.match(actor or "")
    return (found.group(1), found.group(2)) if found else None


def member_actor(actor: str | None, linked_user_id: str | None) -> str | None:
    """A Slack click's actor as the member it is linked to ("user:<id>"); unchanged when unlinked."""
    return f"user:{linked_user_id}" if linked_user_id is not None and slack_user_of(actor) else actor


_ACTOR_FIELDS = ("by", "actor")
_GROUP_ACTOR_FIELDS = ("acknowledged_by", "resolved_by")


def slack_actors(data: Any) -> set[str]:
    """The Slack actors an event names: who acted (`by`) and who acked or resolved the group it shows."""
    group = getattr(data, "group", None)
    values = [getattr(data, name, None) for name in _ACTOR_FIELDS]
    values += [getattr(group, name, None) for name in _GROUP_ACTOR_FIELDS] if group is not None else []
    return {v for v in values if isinstance(v, str) and slack_user_of(v)}


def with_members(data: Any, linked: Mapping[str, str]) -> Any:
    """The event as the read model shows it: each linked Slack actor ("slack:<team>/<user>" -> user id)
    named as its member, "user:<id>", like the API's commands. Unlinked actors stay as they are."""
    def named(value: Any) -> Any:
        return member_actor(value, linked.get(value)) if isinstance(value, str) else value

    changes = {name: named(getattr(data, name)) for name in _ACTOR_FIELDS if hasattr(data, name)}
    group = getattr(data, "group", None)
    if group is not None and hasattr(group, "model_copy"):
        changes["group"] = group.model_copy(update={n: named(getattr(group, n, None)) for n in _GROUP_ACTOR_FIELDS
                                                    if hasattr(group, n)})
    return data.model_copy(update=changes)
