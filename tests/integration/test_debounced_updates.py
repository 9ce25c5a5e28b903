"""Grouping holds back count updates and publishes them once their debounce interval has passed
(`flush_due_updates`), marking every flushed head published in one statement (issue 13). On a real
PostgreSQL: alerts held back over several groups become one `group.updated` each, with every alert
counted; what was flushed is no longer held back (a second flush publishes nothing), and a later
alert is held back again from the published count."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

import signalcraft_grouping
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import AlertStatus, Envelope, NormalizedAlert, Severity
from signalcraft_schemas.events import AlertNormalized, WorkspaceConfigured

from signalcraft_grouping.handlers import flush_due_updates, handle_batch
from signalcraft_grouping.repository import tables

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEBOUNCE = timedelta(seconds=5)


def alert(workspace: str, key: str, second: float) -> Envelope[AlertNormalized]:
    at = T0 + timedelta(seconds=second)
    normalized = NormalizedAlert(source="sentry", source_event_id=f"{key}-{second}", project="checkout",
                                 environment="prod", severity=Severity.MEDIUM, fingerprint=key, title="Timeout",
                                 occurred_at=at, status=AlertStatus.FIRING)
    return Envelope.wrap(AlertNormalized(alert=normalized, group_key=key, integration_id="sen-1",
                                         delivery_id=f"{key}-{second}"),
                         workspace_id=workspace, key=key, correlation_id=f"c-{key}-{second}", occurred_at=at)


async def test_held_back_updates_are_flushed_once_each_with_every_alert_counted(database_url: str) -> None:
    upgrade(database_url, "grouping", Path(signalcraft_grouping.__file__).parent / "migrations")
    workspace = f"ws-{secrets.token_hex(4)}"
    keys = [f"{workspace}-k{i}" for i in range(4)]
    config = ConfigState(workspaces={workspace: WorkspaceConfigured(workspace_id=workspace, name="w")})
    engine = create_engine(database_url, pool_size=2)
    uow_factory = UnitOfWorkFactory(engine, tables)

    async def consume(envelopes: list[Envelope[AlertNormalized]]) -> None:
        async with uow_factory() as uow:
            await handle_batch(uow, envelopes, config, DEBOUNCE, now=envelopes[-1].occurred_at)
            await uow.commit()

    async def published(event_type: str) -> list[tuple[str, int]]:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT key, payload FROM grouping.outbox WHERE event_type = :t "
                                           "AND key LIKE :ws ORDER BY id"), {"t": event_type, "ws": f"{workspace}-%"})
            return [(r.key, json.loads(bytes(r.payload))["data"]["group"]["count"]) for r in rows]

    try:
        await consume([alert(workspace, key, 0) for key in keys])  # each opens its group
        # 1, 2, 3 more alerts for three of the groups within the debounce: held back
        await consume([alert(workspace, keys[i], 1 + n) for i in range(3) for n in range(i + 1)])
        assert await published("group.updated") == []
        assert await flush_due_updates(uow_factory, DEBOUNCE, now=T0 + timedelta(seconds=2)) == 0  # not yet due
        assert await flush_due_updates(uow_factory, DEBOUNCE, now=T0 + timedelta(seconds=20)) == 3
        assert sorted(await published("group.updated")) == [(keys[0], 2), (keys[1], 3), (keys[2], 4)]
        assert await flush_due_updates(uow_factory, DEBOUNCE, now=T0 + timedelta(seconds=21)) == 0
        # within the debounce of that publication, a group's next alert is held back again
        await consume([alert(workspace, keys[0], 22)])
        assert len(await published("group.updated")) == 3
        assert await flush_due_updates(uow_factory, DEBOUNCE, now=T0 + timedelta(seconds=40)) == 1
        assert (await published("group.updated"))[-1] == (keys[0], 3)
        assert sorted(key for key, _ in await published("group.opened")) == sorted(keys)
    finally:
        await engine.dispose()
