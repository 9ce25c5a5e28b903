"""The escalator's handlers: apply each event to the durable timers, and fire the timers that are due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import EscalationArmed, GroupAcknowledged, GroupResolved, GroupSnoozed, GroupStatus

from signalcraft_policies.oncall import on_call as on_call_at

from .domain.timers import (
    GROUP_EVENTS, OnCallLookup, TimerChanges, TimerKind, auto_close_window, escalation_cancelled, fire_step, on_event,
    rearms_only_while_pending, refreshed_payload, status_after,
)
from .repository import TimerRepository

GroupEvent = GROUP_EVENTS
CANCELLING = (GroupAcknowledged, GroupSnoozed, GroupResolved)
Statuses = dict[UUID, GroupStatus]  # the last status seen of each group the batch mentions


def auto_close(config: ConfigState | None, workspace_id: str) -> timedelta:
    return auto_close_window(config.workspaces.get(workspace_id) if config else None)


async def apply(repo: TimerRepository, changes: TimerChanges, cause: Envelope[Any]) -> bool:
    """Arm, cancel and refresh timers as the domain decided; an armed timer remembers its cause.
    Returns whether a pending escalation was cancelled."""
    for timer in changes.arm:
        only_while_pending = rearms_only_while_pending(timer.kind) and not changes.rearm
        await repo.arm(timer, cause.correlation_id, cause.id, only_while_pending=only_while_pending)
    cancelled = [kind for kind, group_id in changes.cancel if await repo.cancel(kind, group_id)]
    if changes.refresh is not None:
        kind, patch = refreshed_payload(changes.refresh)
        await repo.patch_pending(kind, changes.refresh.group_id, patch)
    return TimerKind.ESCALATION in cancelled


async def on_armed(repo: TimerRepository, statuses: Statuses, env: Envelope[EscalationArmed],
                   config: ConfigState | None) -> None:
    status = statuses.get(env.data.group.group_id)
    await apply(repo, on_event(env.data, env.workspace_id, auto_close(config, env.workspace_id), status), env)


async def on_group_changed(uow: UnitOfWork, repo: TimerRepository, statuses: Statuses, env: Envelope[Any],
                           config: ConfigState | None) -> None:
    group_id = env.data.group.group_id
    changes = on_event(env.data, env.workspace_id, auto_close(config, env.workspace_id), statuses.get(group_id))
    if await apply(repo, changes, env) and isinstance(env.data, CANCELLING):
        uow.emit(env.caused(escalation_cancelled(env.data)))
    status = status_after(env.data)
    if status is not None:
        statuses[group_id] = status
        await repo.set_status(group_id, status)


async def next_due(uow_factory: UnitOfWorkFactory) -> datetime | None:
    async with uow_factory() as uow:
        return await TimerRepository(uow.connection).next_due()


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState | None) -> None:
    repo = TimerRepository(uow.connection)
    statuses = await repo.statuses({e.data.group.group_id for e in envelopes
                                    if isinstance(e.data, (EscalationArmed, *GroupEvent))})
    for env in envelopes:
        if isinstance(env.data, EscalationArmed):
            await on_armed(repo, statuses, env, config)
        elif isinstance(env.data, GroupEvent):
            await on_group_changed(uow, repo, statuses, env, config)
    await repo.flush()


def on_call_lookup(config: ConfigState | None, workspace_id: str, now: datetime) -> OnCallLookup:
    """Who is on call now in a schedule of the workspace (None: nobody, or no such schedule)."""
    def lookup(schedule_id: str) -> str | None:
        schedule = config.schedule(workspace_id, schedule_id) if config else None
        return on_call_at(schedule, now).user if schedule is not None else None
    return lookup


async def fire_due(uow_factory: UnitOfWorkFactory, now: datetime, limit: int = 200,
                   config: ConfigState | None = None) -> int:
    """Fire every timer due at `now` (SKIP LOCKED: replicas share the work); a policy's timer moves on to
    its next step in the same transaction. Returns how many fired."""
    async with uow_factory() as uow:
        repo = TimerRepository(uow.connection)
        due = await repo.due(now, limit)
        statuses = await repo.statuses({timer.group_id for timer, _, _ in due})
        for timer, correlation_id, causation_id in due:
            fired = fire_step(timer, statuses.get(timer.group_id), on_call_lookup(config, timer.workspace_id, now))
            uow.emit_all(Envelope.wrap(data, workspace_id=timer.workspace_id, key=timer.group_key, occurred_at=now,
                                       correlation_id=correlation_id, causation_id=causation_id)
                         for data in fired.events)
            await (repo.advance(timer, fired.next) if fired.next else repo.mark_fired(timer))
        await uow.commit()
        return len(due)
