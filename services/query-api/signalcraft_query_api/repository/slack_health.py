"""The Slack token's last auth.test, beside its connection (`query.slack_connections`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import slack_connections


class SlackTokenRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def due(self, stale_before: datetime, limit: int) -> list[tuple[str, str]]:
        """(workspace_id, sealed bot token) of connections never checked, re-saved since their last
        check, or last checked before `stale_before`."""
        c = slack_connections.c
        result = await self._conn.execute(
            select(c.workspace_id, c.bot_token_encrypted)
            .where(or_(c.token_checked_at.is_(None), c.token_checked_at < c.connected_at,
                       c.token_checked_at < stale_before))
            .order_by(c.token_checked_at.nulls_first()).limit(limit))
        return [(row.workspace_id, row.bot_token_encrypted) for row in result]

    async def connection(self, workspace_id: str) -> dict[str, Any] | None:
        c = slack_connections.c
        found = (await self._conn.execute(select(c.workspace_id, c.team_id, c.bot_token_encrypted, c.token_status,
                                                 c.token_checked_at).where(c.workspace_id == workspace_id))).first()
        return dict(found._mapping) if found else None

    async def record(self, workspace_id: str, sealed_token: str, status: str, at: datetime) -> None:
        """The answer about this token; nothing if the connection changed meanwhile (its new token is due)."""
        c = slack_connections.c
        await self._conn.execute(update(slack_connections)
                                 .where(c.workspace_id == workspace_id, c.bot_token_encrypted == sealed_token)
                                 .values(token_status=status, token_checked_at=at))
