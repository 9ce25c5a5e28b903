"""Grouping's handlers: load the heads a batch touches, decide per message (an alert, a command on a
group, the auto-close timer's question), then publish what the batch decided, coalesced, and store
the heads (Cosmic-style). A rejected command changes no head: its answer is published as it is.

Count updates are debounced (domain/head.py); `flush_due_updates` publishes what was held back once
the debounce interval has passed, so downstream never sees a count older than that interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import AlertStatus, Envelope, new_event_id
from signalcraft_schemas.events import AlertNormalized, CloseQuietGroup, GroupCommand, GroupCommandRejected, GroupSnapshot

from .domain.bump import BumpPolicy, bump_policy, decide_bump
from .domain.group import (
    NO_HISTORY, Decision, GroupEvent, Lifecycle, close_quiet, coalesce, decide, decide_command, dedup_window, flap_policy,
)
from .domain.head import Cause, GroupHead, evolve_head, flush_held_back, publish_or_hold, superseded
from .repository import GroupRepository, HeadKey


@dataclass
class Batch:
    """What one consumed batch has decided so far: the heads of the keys it touches, and its group
    events in order, each with the incoming event that caused it."""

    loaded: dict[HeadKey, GroupHead]
    heads: dict[HeadKey, GroupHead]
    decided: list[tuple[GroupEvent, Envelope[Any]]] = field(default_factory=list)
    rejected: list[tuple[GroupCommandRejected, Envelope[Any]]] = field(default_factory=list)

    def snapshot(self, key: HeadKey) -> GroupSnapshot | None:
        head = self.heads.get(key)
        return head.snapshot if head else None

    def lifecycle(self, key: HeadKey) -> Lifecycle:
        head = self.heads.get(key)
        return head.lifecycle if head else NO_HISTORY

    def record(self, key: HeadKey, events: list[Decision], cause: Envelope[Any]) -> None:
        for event in events:
            if isinstance(event, GroupCommandRejected):
                self.rejected.append((event, cause))
                continue
            self.heads[key], caught_up = evolve_head(self.heads.get(key), event)
            if caught_up:  # rare: rebuilding the list for every event made a batch quadratic in its size
                self.decided = superseded(self.decided, caught_up) + [(u, cause) for u in caught_up]
            self.decided.append((event, cause))

    def count_for_bump(self, key: HeadKey, cause: Envelope[AlertNormalized], policy: BumpPolicy | None) -> None:
        """A firing alert joined the key's group: the severity bump counts it, and may raise the group."""
        head, alert = self.heads[key], cause.data.alert
        bump, raised = decide_bump(head.snapshot, head.bump, policy, environment=alert.environment,
                                   received_at=cause.occurred_at)
        self.heads[key] = replace(head, bump=bump)
        self.record(key, list(raised), cause)

    def changed(self) -> dict[HeadKey, GroupHead]:
        return {key: head for key, head in self.heads.items() if head != self.loaded.get(key)}


def on_alert_normalized(batch: Batch, env: Envelope[AlertNormalized], config: ConfigState | None) -> None:
    key = (env.workspace_id, env.data.group_key)
    workspace = config.workspaces.get(env.workspace_id) if config else None
    events = decide(batch.snapshot(key), env.data.alert, group_key=env.data.group_key, received_at=env.occurred_at,
                    window=dedup_window(workspace), new_group_id=new_event_id(), lifecycle=batch.lifecycle(key),
                    flapping=flap_policy(workspace))
    batch.record(key, events, env)
    if events and env.data.alert.status == AlertStatus.FIRING:
        batch.count_for_bump(key, env, bump_policy(workspace))


def on_group_command(batch: Batch, env: Envelope[GroupCommand], now: datetime) -> None:
    key = (env.workspace_id, env.data.group_key)
    batch.record(key, decide_command(batch.snapshot(key), env.data, now=now, lifecycle=batch.lifecycle(key)), env)


def on_close_quiet(batch: Batch, env: Envelope[CloseQuietGroup], now: datetime) -> None:
    key = (env.workspace_id, env.data.group_key)
    events = close_quiet(batch.snapshot(key), group_id=env.data.group_id, quiet_since=env.data.quiet_since, now=now)
    batch.record(key, events, env)


def publish(uow: UnitOfWork, batch: Batch, now: datetime, debounce: timedelta) -> None:
    """Many alerts for one group in a batch make one event downstream; updates may be held back."""
    for rejection, cause in batch.rejected:
        uow.emit(cause.caused(rejection, key=rejection.group_key, occurred_at=now))
    for event, cause in coalesce(batch.decided):
        key = (cause.workspace_id, event.group.group_key)  # every event is about its cause's group key
        batch.heads[key], publish_now = publish_or_hold(
            batch.heads[key], event, Cause(cause.id, cause.correlation_id), now, debounce)
        if publish_now:
            uow.emit(cause.caused(event, key=event.group.group_key, occurred_at=now))


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState | None,
                       debounce: timedelta, now: datetime | None = None) -> None:
    now = now or utcnow()
    repo = GroupRepository(uow.connection)
    heads = await repo.load({(e.workspace_id, e.data.group_key) for e in envelopes
                             if isinstance(e.data, (AlertNormalized, CloseQuietGroup, GroupCommand))})
    batch = Batch(loaded=heads, heads=dict(heads))
    for env in envelopes:
        if isinstance(env.data, AlertNormalized):
            on_alert_normalized(batch, env, config)
        elif isinstance(env.data, CloseQuietGroup):
            on_close_quiet(batch, env, now)
        elif isinstance(env.data, GroupCommand):
            on_group_command(batch, env, now)
    publish(uow, batch, now, debounce)
    await repo.save(batch.changed())


async def flush_due_updates(uow_factory: UnitOfWorkFactory, debounce: timedelta, now: datetime | None = None,
                            limit: int = 500) -> int:
    """Publish held-back count updates whose debounce interval has passed. Returns how many."""
    now = now or utcnow()
    async with uow_factory() as uow:
        repo = GroupRepository(uow.connection)
        due = await repo.due_for_flush(now - debounce, limit)
        flushed_heads = {}
        for (workspace_id, group_key), head in due.items():
            assert head.pending_cause is not None  # what is due is what was held back
            flushed_heads[(workspace_id, group_key)], update = flush_held_back(head, now)
            uow.emit(Envelope.wrap(update, workspace_id=workspace_id, key=group_key, occurred_at=now,
                                   correlation_id=head.pending_cause.correlation_id, causation_id=head.pending_cause.id))
        await repo.mark_published(flushed_heads)
        await uow.commit()
    return len(due)
