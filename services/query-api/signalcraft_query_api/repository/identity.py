"""Identity rows: users, memberships, API tokens; and the workspace each kind of id belongs to (what
the access check asks for ids in a path)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, Text, and_, column, delete, select, table, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.identity import IdentityInUse, Role
from .tables import SCHEMA, TS, md

# --- identity (issue 11.1): users, their workspace roles, API tokens (only their hashes) ---------
users = Table(
    "users", md, Column("user_id", Text, primary_key=True), Column("email", Text), Column("name", Text),
    Column("oidc_subject", Text), Column("slack_team_id", Text), Column("slack_user_id", Text), Column("created_at", TS),
)
memberships = Table(
    "memberships", md, Column("workspace_id", Text, primary_key=True), Column("user_id", Text, primary_key=True),
    Column("role", Text), Column("added_at", TS),
)
api_tokens = Table(
    "api_tokens", md, Column("token_id", Text, primary_key=True), Column("token_hash", Text),
    Column("workspace_id", Text), Column("role", Text), Column("name", Text), Column("user_id", Text),
    Column("created_by", Text), Column("created_at", TS), Column("expires_at", TS), Column("revoked_at", TS),
    Column("last_used_at", TS),
)

# Path parameter -> the table of the things it names (with `<param>` and `workspace_id` columns).
# One line per new kind of id; lightweight tables, so a lookup names no other module's Table.
WORKSPACE_OF: dict[str, str] = {
    "group_id": "groups", "rule_id": "routing_rules", "integration_id": "integrations", "token_id": "api_tokens",
    "policy_id": "escalation_policies", "schedule_id": "schedules",
}


def _dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class IdentityRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def workspace_of(self, param: str, value: str) -> str | None:
        """The workspace of the thing a path id names; None when there is no such thing."""
        things = table(WORKSPACE_OF[param], column(param), column("workspace_id"), schema=SCHEMA)
        if param == "group_id":
            try:
                value = uuid.UUID(value)  # type: ignore[assignment]
            except ValueError:
                return None
        found = await self._conn.execute(select(things.c.workspace_id).where(things.c[param] == value))
        return found.scalar_one_or_none()

    # --- tokens
    async def token(self, token_id: str) -> dict[str, Any] | None:
        found = (await self._conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id))).first()
        return _dict(found) if found else None

    async def touch_token(self, token_id: str, now: datetime) -> None:
        await self._conn.execute(update(api_tokens).where(api_tokens.c.token_id == token_id).values(last_used_at=now))

    async def insert_token(self, row: dict[str, Any]) -> None:
        await self._conn.execute(insert(api_tokens).values(**row))

    async def tokens(self, workspace_ids: list[str] | None) -> list[dict[str, Any]]:
        """`None`: every workspace's (the super-user's view)."""
        query = select(api_tokens).order_by(api_tokens.c.created_at)
        if workspace_ids is not None:
            query = query.where(api_tokens.c.workspace_id.in_(workspace_ids))
        return [_dict(r) for r in await self._conn.execute(query)]

    async def revoke_token(self, token_id: str, now: datetime) -> bool:
        done = await self._conn.execute(update(api_tokens).where(
            and_(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))).values(revoked_at=now))
        return done.rowcount > 0  # type: ignore[attr-defined]

    # --- users and memberships
    async def user_by_email(self, email: str) -> dict[str, Any] | None:
        found = (await self._conn.execute(select(users).where(users.c.email == email))).first()
        return _dict(found) if found else None

    async def user_by_subject(self, subject: str) -> dict[str, Any] | None:
        found = (await self._conn.execute(select(users).where(users.c.oidc_subject == subject))).first()
        return _dict(found) if found else None

    async def user_by_slack(self, team_id: str, slack_user_id: str) -> str | None:
        found = await self._conn.execute(select(users.c.user_id).where(
            and_(users.c.slack_team_id == team_id, users.c.slack_user_id == slack_user_id)))
        return found.scalar_one_or_none()

    async def save_user(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert, or update the given fields of the user with this e-mail; the user as stored."""
        stmt = insert(users).values(**row)
        changed = {k: stmt.excluded[k] for k in row if k not in ("user_id", "email", "created_at") and row[k] is not None}
        stmt = (stmt.on_conflict_do_update(index_elements=[users.c.email], set_=changed) if changed
                else stmt.on_conflict_do_nothing(index_elements=[users.c.email]))
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(stmt)
        except IntegrityError:
            raise IdentityInUse("this OIDC subject or Slack user is linked to another user") from None
        return await self.user_by_email(row["email"])  # type: ignore[return-value]

    async def memberships_of(self, user_id: str) -> dict[str, Role]:
        rows = await self._conn.execute(select(memberships.c.workspace_id, memberships.c.role)
                                        .where(memberships.c.user_id == user_id))
        return {r.workspace_id: Role(r.role) for r in rows}

    async def save_membership(self, workspace_id: str, user_id: str, role: Role, now: datetime) -> None:
        stmt = insert(memberships).values(workspace_id=workspace_id, user_id=user_id, role=role.value, added_at=now)
        await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[memberships.c.workspace_id, memberships.c.user_id], set_={"role": role.value}))

    async def remove_membership(self, workspace_id: str, user_id: str) -> bool:
        done = await self._conn.execute(delete(memberships).where(
            and_(memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id)))
        return done.rowcount > 0  # type: ignore[attr-defined]

    async def members(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.execute(
            select(users, memberships.c.role, memberships.c.added_at)
            .join(memberships, memberships.c.user_id == users.c.user_id)
            .where(memberships.c.workspace_id == workspace_id).order_by(memberships.c.added_at))
        return [_dict(r) for r in rows]

    async def member(self, workspace_id: str, user_id: str) -> dict[str, Any] | None:
        found = (await self._conn.execute(
            select(users, memberships.c.role, memberships.c.added_at)
            .join(memberships, memberships.c.user_id == users.c.user_id)
            .where(and_(memberships.c.workspace_id == workspace_id, memberships.c.user_id == user_id)))).first()
        return _dict(found) if found else None

    async def revoke_personal_tokens(self, workspace_id: str, user_id: str, now: datetime) -> None:
        await self._conn.execute(update(api_tokens).where(and_(
            api_tokens.c.workspace_id == workspace_id, api_tokens.c.user_id == user_id,
            api_tokens.c.revoked_at.is_(None))).values(revoked_at=now))
