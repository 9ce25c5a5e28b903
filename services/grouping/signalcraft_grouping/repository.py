"""Where the head of each group_key lives (grouping.group_heads): its current group, with what was
last published about it and the cause of a held-back update (for debounced updates)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, DateTime, Integer, Table, Text, Uuid, and_, func, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_runtime.bulk import BulkRows
from signalcraft_runtime.database import ServiceTables
from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupSnapshot

from .domain.bump import NO_BUMPS, BumpState
from .domain.group import NO_HISTORY, Lifecycle
from .domain.head import Cause, GroupHead, Published

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
    Column("lifecycle", JSONB(none_as_null=True)),
    Column("bump", JSONB(none_as_null=True)),
)

HeadKey = tuple[str, str]  # (workspace_id, group_key)

# A batch's changed heads in one statement (one per head was a round trip per alert).
HEAD_ROWS = BulkRows.of(workspace_id="text", group_key="text", group_id="uuid", snapshot="jsonb",
                        published_count="int4", published_severity="text", published_at="timestamptz",
                        pending_cause="jsonb", lifecycle="jsonb", bump="jsonb")
SAVE_HEADS = (
    f"INSERT INTO grouping.group_heads ({HEAD_ROWS.names}) SELECT * FROM {HEAD_ROWS.source()} "
    "ORDER BY workspace_id, group_key "  # the same lock order in every transaction
    "ON CONFLICT (workspace_id, group_key) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name, _ in HEAD_ROWS.columns[2:]) + ", updated_at = now()")
PUBLISHED_ROWS = BulkRows.of(workspace_id="text", group_key="text", published_count="int4",
                             published_severity="text", published_at="timestamptz", pending_cause="jsonb")
MARK_PUBLISHED = (
    "UPDATE grouping.group_heads h SET " + ", ".join(f"{name} = s.{name}" for name, _ in PUBLISHED_ROWS.columns[2:])
    + f" FROM {PUBLISHED_ROWS.source()} WHERE h.workspace_id = s.workspace_id AND h.group_key = s.group_key")


def _head(row: Any) -> GroupHead:
    published = (Published(row.published_count, Severity(row.published_severity), row.published_at)
                 if row.published_at is not None and row.published_severity else None)
    cause = Cause(UUID(row.pending_cause["id"]), row.pending_cause["correlation_id"]) if row.pending_cause else None
    return GroupHead(GroupSnapshot.model_validate(row.snapshot), published, cause, _lifecycle(row.lifecycle),
                     _bump(row.bump))


def _lifecycle(stored: dict[str, Any] | None) -> Lifecycle:
    if not stored:
        return NO_HISTORY
    return Lifecycle(tuple(datetime.fromisoformat(t) for t in stored.get("reopened_at", [])),
                     int(stored.get("fired_during_snooze", 0)))


def _bump(stored: dict[str, Any] | None) -> BumpState:
    if not stored:
        return NO_BUMPS
    return BumpState(UUID(stored["group_id"]) if stored.get("group_id") else None,
                     tuple(datetime.fromisoformat(t) for t in stored.get("recent", [])),
                     tuple(Severity(s) for s in stored.get("raised_from", [])))


def _bump_json(bump: BumpState) -> dict[str, Any] | None:
    if bump == NO_BUMPS:
        return None
    return {"group_id": str(bump.group_id) if bump.group_id else None,
            "recent": [t.isoformat() for t in bump.recent], "raised_from": [s.value for s in bump.raised_from]}


def _row(head: GroupHead) -> dict[str, Any]:
    published, cause = head.published, head.pending_cause
    return {"group_id": head.snapshot.group_id, "snapshot": head.snapshot.model_dump(mode="json"),
            "published_count": published.count if published else 0,
            "published_severity": published.severity.value if published else None,
            "published_at": published.at if published else None,
            "pending_cause": {"id": str(cause.id), "correlation_id": cause.correlation_id} if cause else None,
            "lifecycle": {"reopened_at": [t.isoformat() for t in head.lifecycle.reopened_at],
                          "fired_during_snooze": head.lifecycle.fired_during_snooze},
            "bump": _bump_json(head.bump)}


def _rows(heads: dict[HeadKey, GroupHead]) -> list[dict[str, Any]]:
    return [{"workspace_id": ws, "group_key": key} | _row(head) for (ws, key), head in heads.items()]


class GroupRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def load(self, keys: set[HeadKey]) -> dict[HeadKey, GroupHead]:
        """The heads of these keys, locked for this transaction."""
        if not keys:
            return {}
        rows = await self._conn.execute(
            select(group_heads).where(tuple_(group_heads.c.workspace_id, group_heads.c.group_key).in_(list(keys)))
            .with_for_update()
        )
        return {(r.workspace_id, r.group_key): _head(r) for r in rows}

    async def save(self, heads: dict[HeadKey, GroupHead]) -> None:
        await HEAD_ROWS.execute(self._conn, SAVE_HEADS, _rows(heads))

    async def due_for_flush(self, debounce_before: datetime, limit: int) -> dict[HeadKey, GroupHead]:
        """Heads with an update held back since before `debounce_before`, oldest first; replicas share
        them (SKIP LOCKED)."""
        rows = await self._conn.execute(
            select(group_heads).where(and_(group_heads.c.pending_cause.is_not(None), group_heads.c.published_at <= debounce_before))
            .order_by(group_heads.c.published_at).limit(limit).with_for_update(skip_locked=True)
        )
        return {(r.workspace_id, r.group_key): _head(r) for r in rows}

    async def mark_published(self, heads: dict[HeadKey, GroupHead]) -> None:
        """Store flushed heads' publications (what downstream heard, nothing held back), leaving their
        groups as they are: one statement for them all."""
        await PUBLISHED_ROWS.execute(self._conn, MARK_PUBLISHED, _rows(heads))
