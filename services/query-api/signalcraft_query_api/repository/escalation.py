"""Escalation policies and on-call schedules (query.escalation_policies, query.schedules, migration
escalation_0001): each row keeps its config event as JSON, as routing rules do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Table, Text, delete, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from signalcraft_schemas.events import EscalationPolicySaved, ScheduleSaved

from .tables import md, routing_rules, workspaces

escalation_policies = Table(
    "escalation_policies", md, Column("policy_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("definition", JSONB), Column("updated_at", DateTime(timezone=True)),
)
schedules = Table(
    "schedules", md, Column("schedule_id", Text, primary_key=True), Column("workspace_id", Text),
    Column("definition", JSONB), Column("updated_at", DateTime(timezone=True)),
)


class EscalationConfigRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def policies(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.execute(select(escalation_policies.c.definition).where(
            escalation_policies.c.workspace_id == workspace_id).order_by(escalation_policies.c.policy_id))
        return [r.definition for r in rows]

    async def policy(self, policy_id: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(escalation_policies.c.definition).where(
            escalation_policies.c.policy_id == policy_id))).first()
        return row.definition if row is not None else None

    async def save_policy(self, policy: EscalationPolicySaved, now: datetime) -> bool:
        """False, and nothing changed, when the id belongs to another workspace."""
        definition = policy.model_dump(mode="json")
        stmt = insert(escalation_policies).values(policy_id=policy.policy_id, workspace_id=policy.workspace_id,
                                                  definition=definition, updated_at=now)
        saved = await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[escalation_policies.c.policy_id], set_={"definition": definition, "updated_at": now},
            where=escalation_policies.c.workspace_id == stmt.excluded.workspace_id,
        ).returning(escalation_policies.c.policy_id))
        return saved.first() is not None

    async def delete_policy(self, policy_id: str) -> None:
        await self._conn.execute(delete(escalation_policies).where(escalation_policies.c.policy_id == policy_id))

    async def naming_policy(self, workspace_id: str, policy_id: str) -> list[str]:
        """The rules and the workspace default route that name this policy."""
        rules = await self._conn.execute(select(routing_rules.c.rule_id).where(
            routing_rules.c.workspace_id == workspace_id,
            routing_rules.c.definition["escalation_policy_id"].astext == policy_id))
        named = [f"rule {r.rule_id}" for r in rules]
        default = await self._conn.execute(select(workspaces.c.workspace_id).where(
            workspaces.c.workspace_id == workspace_id, workspaces.c.escalation_policy_id == policy_id))
        return named + [f"the default route of {r.workspace_id}" for r in default]

    async def schedules(self, workspace_id: str) -> list[dict[str, Any]]:
        rows = await self._conn.execute(select(schedules.c.definition).where(
            schedules.c.workspace_id == workspace_id).order_by(schedules.c.schedule_id))
        return [r.definition for r in rows]

    async def schedule_ids(self, workspace_id: str) -> set[str]:
        rows = await self._conn.execute(select(schedules.c.schedule_id).where(schedules.c.workspace_id == workspace_id))
        return {r.schedule_id for r in rows}

    async def schedule(self, schedule_id: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(schedules.c.definition).where(
            schedules.c.schedule_id == schedule_id))).first()
        return row.definition if row is not None else None

    async def save_schedule(self, schedule: ScheduleSaved, now: datetime) -> bool:
        """False, and nothing changed, when the id belongs to another workspace."""
        definition = schedule.model_dump(mode="json")
        stmt = insert(schedules).values(schedule_id=schedule.schedule_id, workspace_id=schedule.workspace_id,
                                        definition=definition, updated_at=now)
        saved = await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[schedules.c.schedule_id], set_={"definition": definition, "updated_at": now},
            where=schedules.c.workspace_id == stmt.excluded.workspace_id,
        ).returning(schedules.c.schedule_id))
        return saved.first() is not None

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._conn.execute(delete(schedules).where(schedules.c.schedule_id == schedule_id))
