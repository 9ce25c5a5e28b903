"""Where the current group of each group_key lives (grouping.group_heads), with what was last
published about it (for debounced updates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, Table, Text, Uuid, and_, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot

from .domain.group import Published

SCHEMA = "grouping"
tables = ServiceTables(SCHEMA)
group_heads = Table(
    "group_heads", tables.metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("group_key", Text, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_count", Integer, nullable=False),
    Column("published_severity", Text),
    Column("published_at", DateTime(timezone=True)),
    # none_as_null: Python None must be SQL NULL (not JSON null) for `pending_cause IS NULL` to hold.
    Column("pending_cause", JSONB(none_as_null=True)),
)

HeadKey = tuple[str, str]


@dataclass
class Head:
    snapshot: GroupSnapshot
    published: Published | None = None
    pending_cause: dict[str, Any] | None = None  # {"id", "correlation_id"} of the newest unpublished change
    dirty: bool = False

    def published_for(self, group_id: Any) -> Published | None:
        return self.published if self.snapshot.group_id == group_id else None


class GroupRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def load(self, keys: set[HeadKey]) -> dict[HeadKey, Head]:
        if not keys:
            return {}
        rows = await self._conn.execute(
            select(group_heads).where(tuple_(group_heads.c.workspace_id, group_heads.c.group_key).in_(list(keys)))
            .with_for_update()
        )
        heads = {}
        for r in rows:
            published = (Published(r.published_count, Severity(r.published_severity), r.published_at)
                         if r.published_at is not None and r.published_severity else None)
            heads[(r.workspace_id, r.group_key)] = Head(GroupSnapshot.model_validate(r.snapshot), published, r.pending_cause)
        return heads

    async def save(self, heads: dict[HeadKey, Head]) -> None:
        changed = [(k, h) for k, h in heads.items() if h.dirty]
        if not changed:
            return
        values: list[dict[str, Any]] = [
            {"workspace_id": ws, "group_key": key, "group_id": h.snapshot.group_id,
             "snapshot": h.snapshot.model_dump(mode="json"),
             "published_count": h.published.count if h.published else 0,
             "published_severity": h.published.severity.value if h.published else None,
             "published_at": h.published.at if h.published else None,
             "pending_cause": h.pending_cause}
            for (ws, key), h in changed
        ]
        stmt = insert(group_heads)
        await self._conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[group_heads.c.workspace_id, group_heads.c.group_key],
                set_={c: stmt.excluded[c] for c in ("group_id", "snapshot", "published_count", "published_severity",
                                                    "published_at", "pending_cause")} | {"updated_at": func.now()},
            ),
            values,
        )

    async def due_for_flush(self, debounce_before: datetime, limit: int) -> list[Any]:
        return list(await self._conn.execute(
            select(group_heads).where(and_(group_heads.c.pending_cause.is_not(None), group_heads.c.published_at <= debounce_before))
            .order_by(group_heads.c.published_at).limit(limit).with_for_update(skip_locked=True)
        ))

    async def mark_published(self, workspace_id: str, group_key: str, count: int, severity: str, now: datetime) -> None:
        await self._conn.execute(update(group_heads).where(and_(
            group_heads.c.workspace_id == workspace_id, group_heads.c.group_key == group_key)).values(
            published_count=count, published_severity=severity, published_at=now, pending_cause=None))
