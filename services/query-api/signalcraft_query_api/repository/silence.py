"""Sources gone silent (issue 11.2): the integrations watched, their webhook history, and the alert
each silence raised (`query.silence_alerts`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.silence import (
    ALERT_WHEN_SILENT, SilenceAlert, Watched, stored_alert, watched_of,
)
from .tables import alerts, integration_activity, integrations, silence_alerts


class SilenceRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def watched(self) -> dict[str, Watched]:
        """Integrations with the option set (on or off), with their last webhook."""
        i, a = integrations.c, integration_activity.c
        rows = await self._conn.execute(
            select(i.integration_id, i.workspace_id, i.provider, i.name, i.options, i.enabled, a.last_webhook_at)
            .select_from(integrations.outerjoin(integration_activity, i.integration_id == a.integration_id))
            .where(i.options.has_key(ALERT_WHEN_SILENT)))
        return watched_of(r._mapping for r in rows)

    async def alerted(self, integration_ids: Collection[str]) -> dict[str, SilenceAlert]:
        """The last silence alert of these integrations, and every one still open (whatever became of
        its integration)."""
        s = silence_alerts.c
        rows = await self._conn.execute(select(silence_alerts).where(
            or_(s.resolved_at.is_(None), s.integration_id.in_(list(integration_ids)))))
        return {r.integration_id: stored_alert(r._mapping) for r in rows}

    async def history(self, watched: Collection[Watched], since: datetime) -> dict[str, tuple[int, datetime | None]]:
        """Per integration: its webhooks since `since` and the first of them (its usual gap), as
        delivery health counts them."""
        if not watched:
            return {}
        c = alerts.c
        rows = await self._conn.execute(
            select(c.integration_id, func.count(func.distinct(c.delivery_id)), func.min(c.received_at))
            .where(c.workspace_id.in_({w.workspace_id for w in watched}),
                   c.integration_id.in_([w.integration_id for w in watched]), c.received_at >= since)
            .group_by(c.integration_id))
        return {integration_id: (webhooks, first_at) for integration_id, webhooks, first_at in rows}

    async def raise_alert(self, stored: SilenceAlert) -> bool:
        """Records the alert about this silence; False if it was recorded already (another replica, or
        a silence already alerted on) or the integration's previous alert is still open."""
        row = {"integration_id": stored.integration_id, "workspace_id": stored.workspace_id,
               "quiet_since": stored.quiet_since, "alert": stored.alert.model_dump(mode="json"),
               "raised_at": stored.raised_at, "resolved_at": None, "resolved_reason": None}
        stmt = insert(silence_alerts).values(**row)
        s = silence_alerts.c
        raised = await self._conn.execute(stmt.on_conflict_do_update(
            index_elements=[s.integration_id], set_={k: stmt.excluded[k] for k in row if k != "integration_id"},
            where=s.resolved_at.is_not(None) & (s.quiet_since != stmt.excluded.quiet_since),
        ).returning(s.integration_id))
        return raised.first() is not None

    async def resolve(self, stored: SilenceAlert, at: datetime, reason: str) -> bool:
        """False if it was resolved already (another replica)."""
        s = silence_alerts.c
        resolved = await self._conn.execute(
            update(silence_alerts).where(s.integration_id == stored.integration_id,
                                         s.quiet_since == stored.quiet_since, s.resolved_at.is_(None))
            .values(resolved_at=at, resolved_reason=reason).returning(s.integration_id))
        return resolved.first() is not None
