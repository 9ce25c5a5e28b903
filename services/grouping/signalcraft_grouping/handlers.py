"""Grouping's handler: load the groups a batch touches, decide, store, emit (Cosmic-style).

Opens, acknowledgements and resolutions are emitted at once. Count updates are debounced per group
(`publish_update_now`); what is held back is published by `flush_pending_updates` once the debounce
interval has passed, so downstream never sees a count older than that interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity, new_event_id
from signalcraft_schemas.events import AlertNormalized, CloseQuietGroup, GroupOpened, GroupSnapshot, GroupUpdated

from .domain.group import (
    DEFAULT_DEDUP_WINDOW, GroupEvent, Published, close_quiet, coalesce, decide, evolve, publish_update_now,
)
from .repository import GroupRepository, Head


def dedup_window(config: ConfigState | None, workspace_id: str) -> timedelta:
    workspace = config.workspaces.get(workspace_id) if config else None
    return timedelta(minutes=workspace.dedup_window_minutes) if workspace else DEFAULT_DEDUP_WINDOW


def _deferred_update(head: Head) -> GroupUpdated:
    published = head.published.count if head.published else 0
    return GroupUpdated(group=head.snapshot, alerts_added=max(1, head.snapshot.count - published))


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState | None,
                       debounce: timedelta, now: datetime | None = None) -> None:
    now = now or utcnow()
    repo = GroupRepository(uow.connection)
    keys = {(e.workspace_id, e.data.group_key) for e in envelopes if isinstance(e.data, (AlertNormalized, CloseQuietGroup))}
    heads = await repo.load(keys)
    emitted: list[tuple[GroupEvent, Envelope[Any]]] = []
    for env in envelopes:
        data = env.data
        if not isinstance(data, (AlertNormalized, CloseQuietGroup)):
            continue
        head_key = (env.workspace_id, data.group_key)
        head = heads.get(head_key)
        current = head.snapshot if head else None
        if isinstance(data, AlertNormalized):
            events: list[GroupEvent] = decide(
                current, data.alert, group_key=data.group_key, received_at=env.occurred_at,
                window=dedup_window(config, env.workspace_id), new_group_id=new_event_id(),
            )
        else:
            events = close_quiet(current, group_id=data.group_id, quiet_since=data.quiet_since, now=now)
        for event in events:
            if isinstance(event, GroupOpened) and head is not None and head.pending_cause is not None:
                # The previous group of this key is replaced: publish its last count before it goes.
                emitted.append((_deferred_update(head), env))
                head.pending_cause = None
            state = evolve(current, event)
            assert state is not None  # every group event carries the group
            if head is None:
                head = heads[head_key] = Head(state)
            head.snapshot, head.dirty = state, True
            current = state
            emitted.append((event, env))
    for event, cause in coalesce(emitted):
        head = heads[(cause.workspace_id, event.group.group_key)]  # every event is about its cause's group key
        if isinstance(event, GroupUpdated) and event.group.group_id == head.snapshot.group_id and not publish_update_now(
                event, head.published_for(event.group.group_id), now, debounce):
            head.pending_cause = {"id": str(cause.id), "correlation_id": cause.correlation_id}
            continue
        uow.emit(cause.caused(event, key=event.group.group_key, occurred_at=now))
        if event.group.group_id == head.snapshot.group_id:
            head.published = Published(event.group.count, Severity(event.group.severity), now)
            head.pending_cause = None
    await repo.save(heads)


async def flush_pending_updates(uow_factory: UnitOfWorkFactory, debounce: timedelta, now: datetime | None = None,
                                limit: int = 500) -> int:
    """Publish held-back count updates whose debounce interval has passed. Returns how many."""
    now = now or utcnow()
    async with uow_factory() as uow:
        repo = GroupRepository(uow.connection)
        rows = await repo.due_for_flush(now - debounce, limit)
        for row in rows:
            head = Head(GroupSnapshot.model_validate(row.snapshot),
                        Published(row.published_count, Severity(row.published_severity), row.published_at))
            cause = row.pending_cause
            uow.emit(Envelope.wrap(_deferred_update(head), workspace_id=row.workspace_id, key=row.group_key,
                                   correlation_id=cause["correlation_id"], causation_id=cause["id"], occurred_at=now))
            await repo.mark_published(row.workspace_id, row.group_key, head.snapshot.count, head.snapshot.severity.value, now)
        await uow.commit()
    return len(rows)
