"""Router's handlers: a new group gets a route (or a visible no-route failure); later changes to the
group go where it was first routed. The routes a batch chooses are stored together at its end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    GroupAcknowledged, GroupAssigned, GroupCommandRejected, GroupOpened, GroupReopened, GroupResolved, GroupSnoozed,
    GroupUnacknowledged, GroupUnsnoozed, GroupUpdated,
)

from .domain.notifications import FirstRoute, answer_rejection, announce, follow_up
from .domain.rules import escalation_delay, route
from .repository import RouteRepository

GroupChanged = (GroupUpdated, GroupResolved, GroupAcknowledged, GroupUnacknowledged, GroupSnoozed, GroupUnsnoozed,
                GroupAssigned, GroupReopened)


@dataclass
class Batch:
    """Where each group the batch mentions was first routed, and the routes it chose (to store)."""

    routes: dict[UUID, FirstRoute]
    chosen: list[tuple[str, UUID, FirstRoute]] = field(default_factory=list)  # (workspace_id, group_id, route)


def on_group_opened(uow: UnitOfWork, batch: Batch, env: Envelope[GroupOpened], config: ConfigState) -> None:
    group, workspace = env.data.group, config.workspaces.get(env.workspace_id)
    chosen = route(group, config.rules_for(env.workspace_id), workspace.default_channel if workspace else None)
    if chosen is not None:
        batch.routes[group.group_id] = FirstRoute.of(chosen)
        batch.chosen.append((env.workspace_id, group.group_id, FirstRoute.of(chosen)))
    uow.emit_all(env.caused(data) for data in announce(group, chosen))


def on_group_changed(uow: UnitOfWork, batch: Batch, env: Envelope[Any], config: ConfigState) -> None:
    first = batch.routes.get(env.data.group.group_id)
    delay = escalation_delay(config.rules_for(env.workspace_id), first.rule_id) if first else None
    uow.emit_all(env.caused(data) for data in follow_up(env.data, first, escalate_after=delay, now=env.occurred_at))


def on_command_rejected(uow: UnitOfWork, batch: Batch, env: Envelope[GroupCommandRejected]) -> None:
    uow.emit_all(env.caused(data) for data in answer_rejection(env.data, batch.routes.get(env.data.group_id)))


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState) -> None:
    repo = RouteRepository(uow.connection)
    batch = Batch(await repo.first_routes([e.data.group.group_id for e in envelopes if isinstance(e.data, GroupChanged)]
                                          + [e.data.group_id for e in envelopes if isinstance(e.data, GroupCommandRejected)]))
    for env in envelopes:
        if isinstance(env.data, GroupOpened):
            on_group_opened(uow, batch, env, config)
        elif isinstance(env.data, GroupChanged):
            on_group_changed(uow, batch, env, config)
        elif isinstance(env.data, GroupCommandRejected):
            on_command_rejected(uow, batch, env)
    await repo.add(batch.chosen)
