"""Router's handlers: a new group gets its routes (or a visible no-route failure); later changes to
the group go to every route's message. The routes a batch chooses are stored together at its end."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    GroupAcknowledged, GroupAssigned, GroupCommandRejected, GroupOpened, GroupReopened, GroupResolved,
    GroupSeverityRaised, GroupSnoozed, GroupUnacknowledged, GroupUnsnoozed, GroupUpdated,
)

from .domain.escalation_plans import plan_for
from .domain.notifications import GroupRoute, answer_rejection, announce, follow_ups
from .domain.reroute import reroute
from .domain.rules import Route, escalation_delay, routes_for
from .repository import RouteRepository

GroupChanged = (GroupUpdated, GroupResolved, GroupAcknowledged, GroupUnacknowledged, GroupSnoozed, GroupUnsnoozed,
                GroupAssigned, GroupReopened)


@dataclass
class Batch:
    """Every route of each group the batch mentions, and the routes it chose (to store)."""

    routes: dict[UUID, list[GroupRoute]]
    chosen: list[tuple[str, UUID, list[GroupRoute]]] = field(default_factory=list)  # (workspace, group, routes)


def on_group_opened(uow: UnitOfWork, batch: Batch, env: Envelope[GroupOpened], config: ConfigState) -> None:
    group, workspace = env.data.group, config.workspaces.get(env.workspace_id)
    rules = config.rules_for(env.workspace_id)
    chosen = [replace(r, escalation=plan_for(r.rule_id, rules, workspace, lambda p: config.escalation_policy(
        env.workspace_id, p))) for r in routes_for(group, rules, workspace.default_channel if workspace else None)]
    if chosen:
        batch.routes[group.group_id] = [GroupRoute.of(r) for r in chosen]
        batch.chosen.append((env.workspace_id, group.group_id, batch.routes[group.group_id]))
    uow.emit_all(env.caused(data) for data in announce(group, chosen))


def on_group_changed(uow: UnitOfWork, batch: Batch, env: Envelope[Any], config: ConfigState) -> None:
    rules = config.rules_for(env.workspace_id)
    routes = batch.routes.get(env.data.group.group_id, [])  # none: never notified, nothing to update
    workspace = config.workspaces.get(env.workspace_id)
    uow.emit_all(env.caused(data) for data in follow_ups(
        env.data, routes, lambda rule_id: escalation_delay(rules, rule_id), now=env.occurred_at,
        plan_of=lambda rule_id: plan_for(rule_id, rules, workspace,
                                         lambda p: config.escalation_policy(env.workspace_id, p))))


def routes_now(group: Any, workspace_id: str, config: ConfigState) -> list[Route]:
    """The group's routes as the rules stand now, each with its escalation policy."""
    workspace, rules = config.workspaces.get(workspace_id), config.rules_for(workspace_id)
    return [replace(r, escalation=plan_for(r.rule_id, rules, workspace, lambda p: config.escalation_policy(
        workspace_id, p))) for r in routes_for(group, rules, workspace.default_channel if workspace else None)]


def on_severity_raised(uow: UnitOfWork, batch: Batch, env: Envelope[GroupSeverityRaised], config: ConfigState) -> None:
    """The severity bump raised the group: routed again; new routes announce it, old ones get a notice."""
    group = env.data.group
    existing = batch.routes.get(group.group_id, [])
    added, events = reroute(env.data, existing, routes_now(group, env.workspace_id, config), env.occurred_at)
    if added:  # stored with the routes it had (those rows exist already), so each keeps its rank
        batch.routes[group.group_id] = existing + [GroupRoute.of(r) for r in added]
        batch.chosen.append((env.workspace_id, group.group_id, batch.routes[group.group_id]))
    uow.emit_all(env.caused(data) for data in events)


def on_command_rejected(uow: UnitOfWork, batch: Batch, env: Envelope[GroupCommandRejected]) -> None:
    routes = batch.routes.get(env.data.group_id)  # the clicker is answered once, whichever message they used
    uow.emit_all(env.caused(data) for data in answer_rejection(env.data, routes[0] if routes else None))


async def handle_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]], config: ConfigState) -> None:
    repo = RouteRepository(uow.connection)
    batch = Batch(await repo.routes([e.data.group.group_id for e in envelopes
                                     if isinstance(e.data, (*GroupChanged, GroupSeverityRaised))]
                                    + [e.data.group_id for e in envelopes if isinstance(e.data, GroupCommandRejected)]))
    for env in envelopes:
        if isinstance(env.data, GroupOpened):
            on_group_opened(uow, batch, env, config)
        elif isinstance(env.data, GroupChanged):
            on_group_changed(uow, batch, env, config)
        elif isinstance(env.data, GroupCommandRejected):
            on_command_rejected(uow, batch, env)
        elif isinstance(env.data, GroupSeverityRaised):
            on_severity_raised(uow, batch, env, config)
    await repo.add(batch.chosen)
