"""The dashboard's group and delivery figures come from the rollup kept by triggers and a fold
(migration 0008_group_rollup, repository/rollup.py; issue 11.8), not from the window's rows. On a real
PostgreSQL: groups opened, routed, acknowledged (in Slack, by the API, by a provider), snoozed,
resolved by a person or by themselves, reopened, a few test notifications among them; notifications
requested, delivered or failed (results sometimes projected before their requests, as in a replay),
rewrites among them; all written by the projection's own writer from concurrent transactions, with
folds between some batches and not others. The figures equal those counted from the rows (the
dashboard's queries before the rollup) for windows on and off the hour, before and after a fold, and
after retention deleted old notifications and groups were deleted."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

import signalcraft_query_api
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_query_api.domain.projection import ProjectionBatch
from signalcraft_query_api.repository.maintenance import PROJECTION_TABLES, delete_older_than
from signalcraft_query_api.repository.projection import ReadModelWriter
from signalcraft_query_api.repository.read_queries import ReadQueries
from signalcraft_query_api.repository.rollup import fold_rollup_changes
from signalcraft_query_api.repository.tables import groups, notifications, tables as query_tables

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 12, 40, 17, 250_000, tzinfo=UTC)
SOURCES = ("sentry", "datadog", "grafana", "alertmanager", "cloudwatch")
RULES = (None, "rule-a", "rule-b", "rule-c")
ACTORS = (None, "slack:T1/U1", "api:user-7", "user:u-3", "sentry:provider")


def new_group(workspace: str, rng: random.Random) -> dict[str, Any]:
    first = NOW - timedelta(seconds=rng.randrange(-300, 30 * 3600), microseconds=rng.randrange(1_000_000))
    return {"group_id": uuid.uuid4(), "workspace_id": workspace, "group_key": f"k-{rng.random()}",
            "source": rng.choice(SOURCES), "project": "p", "environment": "prod", "severity": "high",
            "status": "open", "title": "t", "description": "d", "tags": {}, "count": 1, "first_seen_at": first, "last_seen_at": first,
            "is_test": rng.random() < 0.05, "reopen_count": 0, "flapping": False}


def life_of(group: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The upserts the projection would make of a group's later events, in order."""
    first, steps = group["first_seen_at"], []
    if rng.random() < 0.6:
        actor = rng.choice(ACTORS[1:])
        at = first + timedelta(seconds=rng.randrange(5, 3000), microseconds=rng.randrange(1_000_000))
        person = not actor.endswith(":provider")
        steps.append({"status": "acknowledged", "acknowledged_at": at, "acknowledged_by": actor,
                      **({"person_acted_at": at} if person else {})})
    if rng.random() < 0.1:
        steps.append({"status": "snoozed", "snoozed_until": NOW, "person_acted_at": first + timedelta(seconds=9)})
    if rng.random() < 0.5:
        by = rng.choice(("grouping", "slack:T1/U2"))
        steps.append({"status": "resolved", "resolved_at": first + timedelta(seconds=rng.randrange(60, 9000)),
                      "resolved_by": by, **({"person_acted_at": first + timedelta(seconds=61)} if by != "grouping" else {})})
        if rng.random() < 0.2:
            steps.append({"status": "open", "reopen_count": 1})  # reopened: the row sent keeps resolved_at; stored, it is cleared
    for step in steps:
        step["count"] = group["count"] = group["count"] + 1  # count-only changes ride along
    return steps


def new_notification(workspace: str, group: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    requested = group["first_seen_at"] + timedelta(seconds=rng.randrange(0, 600))
    request = {"notification_id": uuid.uuid4(), "workspace_id": workspace, "group_id": group["group_id"],
               "kind": rng.choice(("new_group", "new_group", "escalation", "updated", "state_changed")),
               "channel": "#c", "status": "requested", "attempts": 0, "requested_at": requested}
    result = {"notification_id": request["notification_id"], "workspace_id": workspace, "group_id": group["group_id"],
              "kind": request["kind"], "channel": "#c", "status": rng.choice(("delivered", "delivered", "failed")),
              "error": None, "attempts": 1, "finished_at": requested + timedelta(milliseconds=rng.randrange(50, 4000)),
              "latency_ms": 12.0}
    return request, result


async def from_rows(conn: Any, workspace: str, since: datetime) -> dict[str, Any]:
    """The dashboard's group and delivery figures as it counted them before the rollup: over the rows."""
    real = (groups.c.workspace_id == workspace, groups.c.first_seen_at >= since, groups.c.is_test.is_not(True))
    by = groups.c.acknowledged_by
    g = (await conn.execute(select(
        func.count().label("groups"), func.count(groups.c.acknowledged_at).label("acknowledged"),
        func.avg(func.extract("epoch", groups.c.acknowledged_at - groups.c.first_seen_at)).label("mtta"),
        func.avg(func.extract("epoch", groups.c.resolved_at - groups.c.first_seen_at))
        .filter(groups.c.status == "resolved").label("mttr"),
        func.count().filter(groups.c.status == "resolved").label("resolved"),
        func.count().filter(by.like("slack:%")).label("slack"), func.count().filter(by.like("api:%")).label("api"),
        func.count().filter(by.is_not(None), by.not_like("slack:%"), by.not_like("api:%")).label("provider"),
    ).where(*real))).one()
    hour = func.date_trunc("hour", groups.c.first_seen_at, "UTC")
    per_hour = {r.hour: r.n for r in await conn.execute(
        select(hour.label("hour"), func.count().label("n")).where(*real).group_by(hour))}

    async def actionability(key: Any) -> list[dict[str, Any]]:
        nobody = groups.c.person_acted_at.is_(None)
        rows = await conn.execute(
            select(key.label(key.name), func.count().label("groups"), func.count(groups.c.person_acted_at).label("acted"),
                   func.count().filter(nobody, groups.c.status == "resolved").label("self_resolved"),
                   func.count().filter(nobody, groups.c.status != "resolved").label("untouched"))
            .where(*real).group_by(key))
        return sorted((dict(r._mapping) for r in rows), key=lambda r: str(r[key.name]))

    delivery = (await conn.execute(select(
        func.count().filter(notifications.c.status == "delivered").label("delivered"),
        func.count().filter(notifications.c.status == "failed").label("failed"),
        func.max(notifications.c.finished_at).filter(notifications.c.status == "delivered").label("last"),
    ).where(notifications.c.workspace_id == workspace, notifications.c.requested_at >= since,
            notifications.c.kind.not_in(("updated", "state_changed"))))).one()
    return {"groups": g.groups, "acknowledged": g.acknowledged, "resolved": g.resolved,
            "mtta": None if g.mtta is None else float(g.mtta), "mttr": None if g.mttr is None else float(g.mttr),
            "acknowledged_by": {"slack": g.slack, "api": g.api, "provider": g.provider}, "per_hour": per_hour,
            "by_source": await actionability(groups.c.source), "by_rule": await actionability(groups.c.rule_id),
            "delivered": delivery.delivered, "failed": delivery.failed, "last_delivered_at": delivery.last}


async def compare(engine: Any, workspace: str, since: datetime) -> dict[str, Any]:
    async with engine.connect() as conn:
        c = await ReadQueries(conn).overview_counts(workspace, since)
        expected = await from_rows(conn, workspace, since)
    got = {"groups": c.groups, "acknowledged": c.acknowledged, "resolved": c.resolved,
           "mtta": c.mean_ack_seconds, "mttr": c.mean_resolve_seconds, "acknowledged_by": c.acknowledged_by,
           "per_hour": c.groups_per_hour, "by_source": sorted(c.by_source, key=lambda r: str(r["source"])),
           "by_rule": sorted(c.by_rule, key=lambda r: str(r["rule_id"])), "delivered": c.delivered,
           "failed": c.failed, "last_delivered_at": c.last_delivered_at}
    for mean in ("mtta", "mttr"):  # a sum over a count, not PostgreSQL's avg(): equal to the microsecond
        assert (got[mean] is None) == (expected[mean] is None), (mean, since)
        if got[mean] is not None:
            assert got[mean] == pytest.approx(expected[mean], abs=1e-6), (mean, since)
            got[mean] = expected[mean]
    assert got == expected, since
    return got


WINDOWS = (timedelta(hours=24), timedelta(hours=3), timedelta(hours=40), timedelta(minutes=20))


async def write(uow_factory: UnitOfWorkFactory, steps: list[tuple[str, Any]]) -> None:
    """One projection batch: each step's row into its list of the batch, written as the projection
    writes a batch, in one transaction."""
    batch = ProjectionBatch()
    for rows, row in steps:
        getattr(batch, rows).append(row)
    async with uow_factory() as uow:
        await ReadModelWriter(uow).write(batch)
        await uow.commit()


async def test_dashboard_group_and_delivery_figures_from_the_rollup_equal_those_from_the_rows(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "query", Path(signalcraft_query_api.__file__).parent / "migrations")
    assert {"group_hours", "group_hour_changes", "notification_hours", "notification_hour_changes"} <= set(PROJECTION_TABLES)
    workspace, rng = f"ws-{uuid.uuid4().hex[:8]}", random.Random(118)
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine, query_tables)
    starts = [NOW - w for w in WINDOWS] + [(NOW - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)]
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    starts += [midnight, midnight + timedelta(microseconds=1)]  # whole days only; hours up to the next
    try:
        made = [new_group(workspace, rng) for _ in range(240)]
        # Each writer's stream: a group's own events stay in order (one partition), groups interleave.
        streams: list[list[tuple[str, Any]]] = [[] for _ in range(4)]
        for group in made:
            stream = streams[rng.randrange(4)]
            stream.append(("groups", dict(group)))
            if rng.random() < 0.8:
                rule = rng.choice(RULES)
                stream.append(("routes", {"group_id": group["group_id"], "channel": "#c", "rule_id": rule}))
            state = dict(group)
            for step in life_of(group, rng):  # each event's row in full, as the projection upserts it
                state.update(step)
                stream.append(("groups", dict(state)))
            for _ in range(rng.randrange(3)):
                request, result = new_notification(workspace, group, rng)
                if rng.random() < 0.2:  # a replay: the result before its request
                    stream += [("results", result), ("requested", request)]
                else:
                    stream += [("requested", request), ("results", result)]

        async def run(stream: list[tuple[str, Any]], folds: bool) -> None:
            for i in range(0, len(stream), 7):
                await write(uow_factory, stream[i:i + 7])
                if folds and rng.random() < 0.3:
                    async with uow_factory() as uow:
                        await fold_rollup_changes(uow.connection, limit=rng.choice((5, 50, 20_000)))
                        await uow.commit()

        # Four projection transactions at a time over the same hours, sources and rules, two of the
        # streams folding as they go: appends never wait on each other, the fold is one at a time.
        await asyncio.gather(*(run(stream, folds=i % 2 == 0) for i, stream in enumerate(streams)))

        async with engine.connect() as conn:
            unfolded = (await conn.exec_driver_sql("SELECT count(*) FROM query.group_hour_changes")).scalar_one()
        assert unfolded > 0  # some changes are read unfolded
        for since in starts:
            got = await compare(engine, workspace, since)
        assert got["groups"] > 20 and got["by_rule"] and got["delivered"] and got["failed"]

        while True:  # all folded: the same figures from the sums alone
            async with uow_factory() as uow:
                moved = await fold_rollup_changes(uow.connection, limit=100)
                await uow.commit()
            if moved == 0:
                break
        for since in starts:
            await compare(engine, workspace, since)

        # Retention deletes old notifications in small batches; groups deleted (their contribution is
        # taken back); a route changes a rule after the fact.
        cutoff = NOW - timedelta(hours=10, minutes=17)
        while await _delete_batch(uow_factory, cutoff):
            pass
        gone = [g["group_id"] for g in made[:40]]
        async with uow_factory() as uow:
            await uow.connection.execute(delete(groups).where(groups.c.group_id.in_(gone)))
            await uow.connection.execute(update(groups).where(groups.c.group_id == made[50]["group_id"])
                                         .values(rule_id="rule-z", first_seen_at=NOW - timedelta(minutes=3)))
            await uow.commit()
        for since in [*starts, cutoff]:
            await compare(engine, workspace, since)
        while True:
            async with uow_factory() as uow:
                moved = await fold_rollup_changes(uow.connection)
                await uow.commit()
            if moved == 0:
                break
        for since in [*starts, cutoff]:
            await compare(engine, workspace, since)
        async with engine.connect() as conn:
            left = (await conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM query.group_hour_changes), (SELECT count(*) FROM query.notification_hour_changes), "
                "(SELECT count(*) FROM query.group_hours WHERE groups = 0), "
                "(SELECT count(*) FROM query.notification_hours WHERE delivered = 0 AND failed = 0)")).one()
        assert tuple(left) == (0, 0, 0, 0)  # every change folded; sums of nothing gone
    finally:
        await engine.dispose()


async def _delete_batch(uow_factory: UnitOfWorkFactory, cutoff: datetime) -> int:
    async with uow_factory() as uow:
        deleted = await delete_older_than(uow.connection, "notifications", cutoff, limit=9)
        await uow.commit()
    return deleted
