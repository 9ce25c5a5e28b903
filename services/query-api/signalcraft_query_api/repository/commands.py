"""Group commands' reads: where a group's commands go (its workspace and key, from the read model)
and each command's outcome as grouping answered it (`query.command_outcomes`, written by the
projection)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.commands import GroupRef
from .tables import command_outcomes, groups


class CommandRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def group_ref(self, group_id: UUID) -> GroupRef | None:
        found = (await self._conn.execute(select(groups.c.workspace_id, groups.c.group_key)
                                          .where(groups.c.group_id == group_id))).first()
        return GroupRef(group_id, found.workspace_id, found.group_key) if found else None

    async def outcome(self, command_id: UUID) -> dict[str, Any] | None:
        """The command's outcome with the group as it now stands; None while grouping has not answered."""
        found = (await self._conn.execute(select(command_outcomes).where(command_outcomes.c.command_id == command_id))).first()
        if found is None:
            return None
        group = (await self._conn.execute(select(groups).where(groups.c.group_id == found.group_id))).first()
        return dict(found._mapping) | {"group": dict(group._mapping) if group else None}
