"""A replay consumes the topics side by side, so a group's first notification can be projected before
the group itself (issue 11.6, rebuild by replay). On a real PostgreSQL: in either order, the group's
row and its notification come out the same."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

import signalcraft_query_api
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from datetime import UTC, datetime, timedelta

from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    GroupOpened, GroupSnapshot, GroupStatus, NotificationDelivered, NotificationKind, NotificationRequested,
)
from signalcraft_query_api.handlers import project
from signalcraft_query_api.repository.tables import tables as query_tables

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def make_group(group_id: uuid.UUID, group_key: str) -> GroupSnapshot:
    return GroupSnapshot(group_id=group_id, group_key=group_key, source="sentry", project="checkout",
                         environment="prod", fingerprint="fp", title="TimeoutError", description="",
                         severity=Severity.HIGH, status=GroupStatus.OPEN, count=1, first_seen_at=T0, last_seen_at=T0,
                         link=None, tags={})


def make_request(group: GroupSnapshot, channel: str, runbook_url: str) -> NotificationRequested:
    return NotificationRequested(kind=NotificationKind.NEW_GROUP, group=group, channel=channel,
                                 runbook_url=runbook_url, rule_id="r1")

pytestmark = pytest.mark.integration


def events(workspace: str) -> tuple[Envelope[Any], Envelope[Any], Envelope[Any]]:
    group = make_group(group_id=uuid.uuid4(), group_key=f"{workspace}:sentry:checkout:prod:fp")
    opened = Envelope.wrap(GroupOpened(group=group), workspace_id=workspace, key=group.group_key,
                           correlation_id="c", occurred_at=T0)
    requested = Envelope.wrap(make_request(group=group, channel="#routed", runbook_url="https://runbook.example"),
                              workspace_id=workspace, key=group.group_key, correlation_id="c",
                              occurred_at=T0 + minutes(1))
    delivered = Envelope.wrap(NotificationDelivered(request_id=requested.id, kind=requested.data.kind,
                                                    group_id=group.group_id, channel="#routed", message_ts="1.1",
                                                    attempts=1, latency_ms=5.0),
                              workspace_id=workspace, key=group.group_key, correlation_id="c",
                              occurred_at=T0 + minutes(2))
    return opened, requested, delivered


def rows(database_url: str, workspace: str) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as conn:
        group = conn.execute("SELECT channel, runbook_url, notified_at, status, count FROM query.groups "
                             "WHERE workspace_id = %s", (workspace,)).fetchall()
        notification = conn.execute("SELECT kind, channel, status, requested_at, finished_at FROM "
                                    "query.notifications WHERE workspace_id = %s", (workspace,)).fetchall()
        pending = conn.execute("SELECT count(*) FROM query.pending_group_routes").fetchone()
    return group, notification, pending


async def test_a_notification_projected_before_its_group_ends_as_in_order(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "query", Path(signalcraft_query_api.__file__).parent / "migrations")
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine, query_tables)
    results = []
    try:
        for order in ((0, 1, 2), (2, 1, 0), (1, 2, 0)):
            workspace = f"ws-{uuid.uuid4().hex[:8]}"
            made = events(workspace)
            for index in order:  # one batch each, as separate fetches of separate topics
                async with uow_factory() as uow:
                    await project(uow, [made[index]])
                    await uow.commit()
            results.append(rows(database_url, workspace))
    finally:
        await engine.dispose()
    in_order = results[0]
    assert in_order[0] == [("#routed", "https://runbook.example", T0 + minutes(2), "open", 1)]
    assert in_order[1] == [("new_group", "#routed", "delivered", T0 + minutes(1), T0 + minutes(2))]
    assert results[1] == in_order and results[2] == in_order
    assert in_order[2] == (0,)  # nothing left waiting
