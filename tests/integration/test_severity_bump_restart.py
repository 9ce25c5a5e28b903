"""The severity bump's count lives in grouping's repository (issue 10.3): alerts counted before a
restart still count after it (a fresh engine, the schema as grouping's migrations build it), and a
raise is published exactly once."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import AlertStatus, Envelope, NormalizedAlert, Severity
from signalcraft_schemas.events import AlertNormalized, SeverityBump, WorkspaceConfigured

import signalcraft_grouping
from signalcraft_grouping.handlers import handle_batch
from signalcraft_grouping.repository import tables

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEBOUNCE = timedelta(seconds=5)


def alert(workspace: str, key: str, second: int) -> Envelope[AlertNormalized]:
    at = T0 + timedelta(seconds=second)
    normalized = NormalizedAlert(source="sentry", source_event_id=f"e{second}", project="checkout", environment="prod",
                                 severity=Severity.MEDIUM, fingerprint="fp", title="Timeout", occurred_at=at,
                                 status=AlertStatus.FIRING)
    return Envelope.wrap(AlertNormalized(alert=normalized, group_key=key, integration_id="sen-1", delivery_id=f"d{second}"),
                         workspace_id=workspace, key=key, correlation_id=f"c{second}", occurred_at=at)


async def run_once(database_url: str, config: ConfigState, envelopes: list[Envelope[AlertNormalized]]) -> None:
    """One grouping process's life: its own engine, one batch, gone."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with UnitOfWorkFactory(engine, tables)() as uow:
            await handle_batch(uow, envelopes, config, DEBOUNCE, now=envelopes[-1].occurred_at)
            await uow.commit()
    finally:
        await engine.dispose()


async def raises_published(database_url: str, key: str) -> list[str]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT payload FROM grouping.outbox WHERE key = :key AND event_type = 'group.severity_raised'"),
                {"key": key})
            return [bytes(r.payload).decode() for r in rows]
    finally:
        await engine.dispose()


async def test_alerts_counted_before_a_restart_count_after_it_and_a_level_is_raised_once(database_url: str) -> None:
    upgrade(database_url, "grouping", Path(signalcraft_grouping.__file__).parent / "migrations")
    workspace, key = f"ws-{secrets.token_hex(4)}", f"key-{secrets.token_hex(4)}"
    config = ConfigState(workspaces={workspace: WorkspaceConfigured(
        workspace_id=workspace, name="w", severity_bump=SeverityBump(count=3, within_seconds=300))})

    await run_once(database_url, config, [alert(workspace, key, 0), alert(workspace, key, 10)])
    assert await raises_published(database_url, key) == []
    await run_once(database_url, config, [alert(workspace, key, 20)])  # after a restart: the third of 3 in 5 m
    [raised] = await raises_published(database_url, key)
    assert '"from_severity":"medium"' in raised and '"to_severity":"high"' in raised
    await run_once(database_url, config, [alert(workspace, key, 30), alert(workspace, key, 40)])
    assert len(await raises_published(database_url, key)) == 1  # two more since the raise: not yet three
