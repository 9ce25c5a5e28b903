"""Rows for an integration's lifecycle (enable, disable, rotate, delete) and for tracing a test webhook
through the read models. The secret a rotation replaced is kept beside the integration until its
grace period is over; a deleted integration's rows go (its tombstone is on the config topic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Table, Text, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.integration_ops import StoredIntegration
from .tables import alerts, groups, integrations, md, notifications

integration_rotations = Table(
    "integration_rotations", md, Column("integration_id", Text, primary_key=True),
    Column("previous_secret_encrypted", Text, nullable=False),
    Column("previous_secret_valid_until", DateTime(timezone=True), nullable=False),
)


class IntegrationRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, integration_id: str, lock: bool = False) -> StoredIntegration | None:
        query = (select(integrations, integration_rotations.c.previous_secret_encrypted,
                        integration_rotations.c.previous_secret_valid_until)
                 .outerjoin(integration_rotations,
                            integration_rotations.c.integration_id == integrations.c.integration_id)
                 .where(integrations.c.integration_id == integration_id))
        row = (await self._conn.execute(query.with_for_update(of=integrations) if lock else query)).first()
        if row is None:
            return None
        return StoredIntegration(
            integration_id=row.integration_id, workspace_id=row.workspace_id, provider=row.provider, name=row.name,
            secret_encrypted=row.secret_encrypted, enabled=row.enabled, options=dict(row.options or {}),
            previous_secret_encrypted=row.previous_secret_encrypted,
            previous_secret_valid_until=row.previous_secret_valid_until)

    async def set_enabled_and_options(self, integration_id: str, enabled: bool, options: dict[str, str]) -> None:
        await self._conn.execute(update(integrations).where(integrations.c.integration_id == integration_id)
                                 .values(enabled=enabled, options=options))

    async def rotate(self, stored: StoredIntegration, fingerprint: str | None) -> bool:
        """`stored` after its rotation. False, and nothing changed, when another integration has the
        new secret's fingerprint (a PagerDuty routing key must name one integration)."""
        if fingerprint is not None:
            taken = await self._conn.execute(select(integrations.c.integration_id).where(
                integrations.c.secret_fingerprint == fingerprint,
                integrations.c.integration_id != stored.integration_id))
            if taken.first() is not None:
                return False
        await self._conn.execute(update(integrations).where(integrations.c.integration_id == stored.integration_id)
                                 .values(secret_encrypted=stored.secret_encrypted, secret_fingerprint=fingerprint))
        await self._conn.execute(delete(integration_rotations)
                                 .where(integration_rotations.c.integration_id == stored.integration_id))
        if stored.previous_secret_encrypted and stored.previous_secret_valid_until:
            await self._conn.execute(insert(integration_rotations).values(
                integration_id=stored.integration_id, previous_secret_encrypted=stored.previous_secret_encrypted,
                previous_secret_valid_until=stored.previous_secret_valid_until))
        return True

    async def delete(self, integration_id: str) -> None:
        await self._conn.execute(delete(integration_rotations)
                                 .where(integration_rotations.c.integration_id == integration_id))
        await self._conn.execute(delete(integrations).where(integrations.c.integration_id == integration_id))

    async def expired_rotations(self, now: datetime, limit: int = 100) -> list[str]:
        """Integrations whose previous secret's grace period is over: to be republished without it."""
        rows = await self._conn.execute(select(integration_rotations.c.integration_id).where(
            integration_rotations.c.previous_secret_valid_until <= now).limit(limit))
        return [r.integration_id for r in rows]

    async def forget_rotation(self, integration_id: str) -> None:
        await self._conn.execute(delete(integration_rotations)
                                 .where(integration_rotations.c.integration_id == integration_id))

    # --- a test webhook's trace through the read models ---------------------------------------

    async def alert_of_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(alerts).where(alerts.c.delivery_id == delivery_id).limit(1))).first()
        return dict(row._mapping) if row is not None else None

    async def group_of(self, workspace_id: str, group_key: str) -> dict[str, Any] | None:
        row = (await self._conn.execute(select(groups).where(
            groups.c.workspace_id == workspace_id, groups.c.group_key == group_key)
            .order_by(groups.c.first_seen_at.desc()).limit(1))).first()
        return dict(row._mapping) if row is not None else None

    async def notifications_of(self, group_id: Any) -> list[dict[str, Any]]:
        rows = await self._conn.execute(select(notifications).where(notifications.c.group_id == group_id)
                                        .order_by(notifications.c.requested_at))
        return [dict(r._mapping) for r in rows]
