"""Retention on a real PostgreSQL (issue 11.6): rows older than their kind's period go, newer ones stay,
in batches, for raw deliveries (ingest) and alerts, timelines, notifications, dead letters (query-api)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

import signalcraft_ingest
import signalcraft_query_api
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_ingest.handlers import clean_up_deliveries
from signalcraft_ingest.repository import tables as ingest_tables
from signalcraft_query_api.domain.retention import RetentionPolicy
from signalcraft_query_api.handlers import apply_retention
from signalcraft_query_api.repository.tables import tables as query_tables

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
OLD, NEW = NOW - timedelta(days=40), NOW - timedelta(days=1)


def migrate(database_url: str) -> None:
    for package, schema in ((signalcraft_query_api, "query"), (signalcraft_ingest, "ingest")):
        upgrade(database_url, schema, Path(package.__file__).parent / "migrations")


def seed(database_url: str, workspace: str) -> None:
    """One old and one new row of every kind, in `workspace`."""
    with psycopg.connect(database_url) as conn:
        for at in (OLD, NEW):
            group_id, event_id = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                "INSERT INTO query.alerts (event_id, workspace_id, integration_id, delivery_id, group_key, source, "
                "source_event_id, project, environment, severity, status, fingerprint, title, tags, occurred_at, "
                "received_at) VALUES (%s, %s, 'i', 'd', 'k', 'sentry', 'e', 'p', 'prod', 'high', 'firing', 'f', 't', "
                "'{}', %s, %s)", (event_id, workspace, at, at))
            conn.execute("INSERT INTO query.timeline (event_id, group_id, at, kind, detail) VALUES (%s, %s, %s, "
                         "'opened', '{}')", (uuid.uuid4(), group_id, at))
            conn.execute("INSERT INTO query.notifications (notification_id, workspace_id, group_id, kind, channel, "
                         "status, attempts, requested_at) VALUES (%s, %s, %s, 'new_group', '#c', 'delivered', 1, %s)",
                         (uuid.uuid4(), workspace, group_id, at))
            conn.execute("INSERT INTO query.deadletters (event_id, workspace_id, consumer, topic, partition, "
                         "\"offset\", error, at) VALUES (%s, %s, 'c', 't', 0, 0, 'e', %s)",
                         (uuid.uuid4(), workspace, at))
            conn.execute("INSERT INTO ingest.deliveries (delivery_id, integration_id, workspace_id, provider, "
                         "received_at, headers, body, alert_count) VALUES (%s, 'i', %s, 'sentry', %s, '{}', 'x', 1)",
                         (uuid.uuid4(), workspace, at))


def counts(database_url: str, workspace: str) -> dict[str, list[datetime]]:
    queries = {"alerts": "SELECT received_at FROM query.alerts WHERE workspace_id = %s",
               "notifications": "SELECT requested_at FROM query.notifications WHERE workspace_id = %s",
               "dead_letters": "SELECT at FROM query.deadletters WHERE workspace_id = %s",
               "deliveries": "SELECT received_at FROM ingest.deliveries WHERE workspace_id = %s"}
    with psycopg.connect(database_url) as conn:
        found = {kind: sorted(r[0] for r in conn.execute(q, (workspace,))) for kind, q in queries.items()}
        found["timelines"] = sorted(r[0] for r in conn.execute(
            "SELECT at FROM query.timeline WHERE at IN (%s, %s)", (OLD, NEW)))
    return found


async def drain(step) -> int:  # type: ignore[no-untyped-def]
    total = 0
    while (done := await step()) > 0:
        total += done
    return total


async def test_old_rows_go_and_new_ones_stay(database_url: str) -> None:
    await asyncio.to_thread(migrate, database_url)
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(seed, database_url, workspace)
    query_engine, ingest_engine = create_engine(database_url), create_engine(database_url)
    try:
        keep_notifications = RetentionPolicy(alerts=timedelta(days=30), timelines=timedelta(days=30),
                                             notifications=None, dead_letters=timedelta(days=30))
        deleted = await drain(lambda: apply_retention(UnitOfWorkFactory(query_engine, query_tables),
                                                      keep_notifications, now=lambda: NOW))
        assert deleted >= 3
        await drain(lambda: clean_up_deliveries(UnitOfWorkFactory(ingest_engine, ingest_tables),
                                                timedelta(days=30), now=lambda: NOW))
        assert await clean_up_deliveries(UnitOfWorkFactory(ingest_engine, ingest_tables), None, now=lambda: NOW) == 0
    finally:
        await query_engine.dispose()
        await ingest_engine.dispose()
    assert counts(database_url, workspace) == {
        "alerts": [NEW], "timelines": [NEW], "dead_letters": [NEW], "deliveries": [NEW],
        "notifications": [OLD, NEW],  # retention off for notifications: kept
    }
