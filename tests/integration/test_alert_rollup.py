"""The dashboard's alert figures come from the rollup the projection keeps (alert_hours, alert_keys,
and the keys by the hour of their last alert that a trigger appends and the fold sums; issue 11.8),
not from the window's alerts. On a real PostgreSQL: alerts projected in batches, some of them
redelivered (again in a later batch, twice in one batch), test notifications among them; the figures
from the rollup equal those the dashboard computed from the alert rows before, for windows starting
on and off the hour, before and after the fold; and still after retention deleted the older alerts
in small batches, the cut-off falling inside an hour."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, cast, desc, func, select

import signalcraft_query_api
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.alerts import AlertStatus, NormalizedAlert
from signalcraft_schemas.events import AlertNormalized
from signalcraft_query_api.handlers import project
from signalcraft_query_api.repository.maintenance import PROJECTION_TABLES, delete_older_than
from signalcraft_query_api.repository.read_queries import ReadQueries
from signalcraft_query_api.repository.rollup import fold_rollup_changes
from signalcraft_query_api.repository.tables import alerts, tables as query_tables

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 12, 40, 17, tzinfo=UTC)
SOURCES = (("sentry", "checkout"), ("sentry", "search"), ("datadog", "checkout"), ("grafana", "infra"),
           ("alertmanager", "infra"), ("cloudwatch", "billing"), ("pagerduty", "checkout"))


def alert_event(workspace: str, rng: random.Random, received_at: datetime) -> Envelope[Any]:
    source, project_ = rng.choice(SOURCES)
    key = f"{workspace}:{source}:{project_}:prod:fp-{int(rng.paretovariate(1.2)) % 40}"
    alert = NormalizedAlert(source=source, source_event_id=f"e-{rng.random()}", project=project_, environment="prod",
                            severity=Severity.HIGH, fingerprint="fp", title="t", occurred_at=received_at,
                            status=AlertStatus.FIRING, is_test=rng.random() < 0.05)
    return Envelope.wrap(AlertNormalized(alert=alert, group_key=key, integration_id=f"{workspace}-{source}",
                                         delivery_id="d"),
                         workspace_id=workspace, key=key, correlation_id="c", occurred_at=received_at)


def seeded_events(workspace: str) -> list[Envelope[Any]]:
    """~600 alerts over the 30 hours before NOW (and a few after it), at second precision."""
    rng = random.Random(11_8)
    return [alert_event(workspace, rng, NOW - timedelta(seconds=rng.randrange(-600, 30 * 3600)))
            for _ in range(600)]


async def from_alert_rows(conn: Any, workspace: str, since: datetime) -> tuple[dict[datetime, int], list[dict]]:
    """The dashboard's alert figures as it computed them before the rollup: over the window's alerts.
    The noisy sources in full, ordered as the rollup's (the old query left ties unordered)."""
    real_alerts = (alerts.c.workspace_id == workspace, alerts.c.received_at >= since, alerts.c.is_test.is_not(True))
    per_key = (select(alerts.c.source, alerts.c.project, func.count().label("n")).where(*real_alerts)
               .group_by(alerts.c.source, alerts.c.project, alerts.c.group_key).subquery())
    noisy = [dict(r._mapping) for r in await conn.execute(
        select(per_key.c.source, per_key.c.project, cast(func.sum(per_key.c.n), BigInteger).label("alerts"),
               func.count().label("groups"))
        .group_by(per_key.c.source, per_key.c.project).order_by(desc("alerts")))]
    noisy.sort(key=lambda row: (-row["alerts"], row["source"], row["project"]))
    alert_hour = func.date_trunc("hour", alerts.c.received_at)
    per_hour = {r.hour: r.n for r in await conn.execute(
        select(alert_hour.label("hour"), func.count().label("n")).where(*real_alerts).group_by(alert_hour))}
    return per_hour, noisy[:5]


async def figures(engine: Any, workspace: str, since: datetime) -> tuple[Any, Any]:
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SET TIME ZONE 'UTC'")  # the old query's hours were the session's
        counts = await ReadQueries(conn).overview_counts(workspace, since)
        expected = await from_alert_rows(conn, workspace, since)
    assert counts.alerts == sum(expected[0].values())
    return (counts.alerts_per_hour, counts.noisy_sources), expected


WINDOWS = (timedelta(hours=24), timedelta(hours=3), timedelta(hours=40), timedelta(minutes=20))


async def fold_all(uow_factory: UnitOfWorkFactory) -> None:
    while True:
        async with uow_factory() as uow:
            moved = await fold_rollup_changes(uow.connection, limit=97)
            await uow.commit()
        if moved == 0:
            return


async def test_dashboard_figures_from_the_rollup_equal_those_from_the_alert_rows(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "query", Path(signalcraft_query_api.__file__).parent / "migrations")
    assert {"alert_hours", "alert_keys"} <= set(PROJECTION_TABLES)  # a rebuild empties and replays them
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    events = seeded_events(workspace)
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine, query_tables)
    try:
        batches = [events[i:i + 50] for i in range(0, len(events), 50)]
        batches[3] = batches[3] + batches[3][:5]  # twice in one batch
        batches += [events[100:160], events[7:9] + events[400:420]]  # redelivered in later batches
        for batch in batches:
            async with uow_factory() as uow:
                await project(uow, batch)
                await uow.commit()
        async with engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(alerts)
                                         .where(alerts.c.workspace_id == workspace))).scalar_one()
        assert stored == len(events)

        starts = [NOW - window for window in WINDOWS]
        starts += [(NOW - timedelta(hours=5)).replace(minute=0, second=0)]  # on the hour
        starts += [NOW.replace(hour=0, minute=0, second=0), NOW.replace(hour=0, minute=0, second=1)]  # at, after midnight
        for folded in (False, True):  # the changes not yet folded are read too
            if folded:
                await fold_all(uow_factory)
            for since in starts:
                got, expected = await figures(engine, workspace, since)
                assert got == expected, (since, folded)
                assert got[0] and got[1]

        # Retention: alerts before a cut-off in mid-hour go, in batches of 7 (rollup adjusted each time).
        cutoff = NOW - timedelta(hours=20, minutes=23, seconds=5)
        async with engine.connect() as conn:
            old = (await conn.execute(select(func.count()).select_from(alerts).where(
                alerts.c.workspace_id == workspace, alerts.c.received_at < cutoff))).scalar_one()
        assert old > 20
        deleted = 0
        while True:
            async with uow_factory() as uow:
                done = await delete_older_than(uow.connection, "alerts", cutoff, limit=7)
                await uow.commit()
            if done == 0:
                break
            deleted += done
        assert deleted >= old
        for folded in (False, True):
            if folded:
                await fold_all(uow_factory)
            for since in [*starts, cutoff - timedelta(minutes=10), cutoff, cutoff + timedelta(minutes=3)]:
                got, expected = await figures(engine, workspace, since)
                assert got == expected, (since, folded)
        async with engine.connect() as conn:
            left = (await conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM query.alert_hours WHERE workspace_id = %(w)s AND alerts <= 0) "
                "+ (SELECT count(*) FROM query.alert_days WHERE workspace_id = %(w)s AND alerts <= 0) "
                "+ (SELECT count(*) FROM query.alert_series WHERE workspace_id = %(w)s AND alerts <= 0) "
                "+ (SELECT count(*) FROM query.alert_hour_changes), "
                "(SELECT count(*) FROM query.alert_keys WHERE workspace_id = %(w)s AND last_received_at < %(c)s)",
                {"w": workspace, "c": cutoff})).one()
        assert tuple(left) == (0, 0)  # every change folded; emptied hours and days, and keys of deleted alerts, went
    finally:
        await engine.dispose()
