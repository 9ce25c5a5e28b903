"""The projection writes a batch's rows one statement per kind of row (issue 13: a statement per event
was most of query-api's time). On a real PostgreSQL: the same events projected one per batch, all in
one batch, or in batches of random sizes leave the same read models (groups, timeline, notifications,
command outcomes, the change feed and its order, what waits in pending_group_routes), and those rows
say what the events did: the first acknowledgement stays, a reopened group has no resolved_at, the
highest count stays, the first delivery stamps notified_at, the last new-group route names the channel."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import signalcraft_query_api
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    GroupAcknowledged, GroupAction, GroupCommandRejected, GroupNoteAdded, GroupOpened, GroupReopened, GroupResolved,
    GroupSnapshot, GroupStatus, GroupUpdated, NotificationDelivered, NotificationFailed, NotificationKind,
    NotificationRequested,
)
from signalcraft_query_api.handlers import project
from signalcraft_query_api.repository.tables import tables as query_tables

from .batches import BATCHINGS, handle_in_batches

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)
GROUPS = 12


def life(workspace: str, rng: random.Random) -> tuple[list[Envelope[Any]], dict[str, Any], dict[uuid.UUID, str]]:
    """Every group's events, each group's in order, groups interleaved; what the rows must say; and
    every id's label (the same labels in every workspace)."""
    ids: dict[str, uuid.UUID] = {}

    def uid(name: str) -> uuid.UUID:
        return ids.setdefault(name, uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace}/{name}"))

    lives: list[list[Envelope[Any]]] = []
    expected: dict[str, Any] = {}
    for g in range(GROUPS):
        key, clock, events = f"{workspace}:sentry:p:prod:fp{g}", [T0 + timedelta(minutes=g)], []
        snapshot = GroupSnapshot(group_id=uid(f"g{g}"), group_key=key, source="sentry", project="p",
                                 environment="prod", fingerprint=f"fp{g}", title=f"Error {g}", severity=Severity.HIGH,
                                 status=GroupStatus.OPEN, count=1, first_seen_at=clock[0], last_seen_at=clock[0])

        def emit(data: Any, name: str) -> None:
            clock[0] += timedelta(seconds=rng.randrange(1, 90), microseconds=rng.randrange(1_000_000))
            events.append(Envelope.wrap(data, workspace_id=workspace, key=key, id=uid(f"g{g}/{name}"),
                                        correlation_id=f"c{g}", occurred_at=clock[0]))

        def moved(**changes: Any) -> GroupSnapshot:
            return snapshot.model_copy(update={"last_seen_at": clock[0], **changes})

        emit(GroupOpened(group=snapshot), "opened")
        channels = ["#a", "#b"][:rng.choice((1, 2))]  # fan-out: two new-group messages
        expected[f"g{g}"] = {"channel": channels[-1], "acknowledged_at": None, "notified_at": None}
        for channel in channels:
            emit(NotificationRequested(kind=NotificationKind.NEW_GROUP, group=snapshot, channel=channel,
                                       runbook_url=f"https://runbook/{channel}", rule_id="r1"), f"req{channel}")
            request_id = events[-1].id
            if rng.random() < 0.8:
                emit(NotificationDelivered(request_id=request_id, kind=NotificationKind.NEW_GROUP,
                                           group_id=snapshot.group_id, channel=channel, message_ts="1.1", attempts=1,
                                           latency_ms=9.0), f"ok{channel}")
                expected[f"g{g}"]["notified_at"] = expected[f"g{g}"]["notified_at"] or events[-1].occurred_at
            else:
                emit(NotificationFailed(request_id=request_id, kind=NotificationKind.NEW_GROUP,
                                        group_id=snapshot.group_id, channel=channel, error="channel_not_found",
                                        attempts=3), f"failed{channel}")
        for u in range(rng.randrange(1, 4)):
            snapshot = moved(count=snapshot.count + 2)
            emit(GroupUpdated(group=snapshot, alerts_added=2), f"updated{u}")
        for a in range(rng.choice((0, 1, 2))):  # a second acknowledgement (the provider's) keeps the first
            snapshot = moved(status=GroupStatus.ACKNOWLEDGED, acknowledged_by=f"user:u{a}")
            emit(GroupAcknowledged(group=snapshot, by=f"user:u{a}", command_id=uid(f"g{g}/ack{a}")), f"ack{a}")
            expected[f"g{g}"]["acknowledged_at"] = expected[f"g{g}"]["acknowledged_at"] or events[-1].occurred_at
        if rng.random() < 0.5:
            emit(GroupCommandRejected(command_id=uid(f"g{g}/unsnooze"), group_id=snapshot.group_id, group_key=key,
                                      action=GroupAction.UNSNOOZE, reason="not_snoozed", by="slack:T1/U9",
                                      group=snapshot), "rejected")
        emit(GroupNoteAdded(group=snapshot, note_id=uid(f"g{g}/note"), text="looking", by="user:u1",
                            command_id=uid(f"g{g}/note")), "note")
        resolved = rng.random() < 0.7
        if resolved:
            snapshot = moved(status=GroupStatus.RESOLVED, resolved_by="user:u2")
            emit(GroupResolved(group=snapshot, reason="manual", by="user:u2", command_id=uid(f"g{g}/resolve")),
                 "resolved")
            resolved_at = events[-1].occurred_at
            if rng.random() < 0.4:
                snapshot = moved(status=GroupStatus.OPEN, count=snapshot.count + 1, reopen_count=1, resolved_by=None)
                emit(GroupReopened(group=snapshot, flap_count=1, flapping=False), "reopened")
                resolved, resolved_at = False, None
                snapshot = moved(count=snapshot.count + 1)
                emit(GroupUpdated(group=snapshot, alerts_added=1), "updated-after")
        expected[f"g{g}"] |= {"status": snapshot.status.value, "count": snapshot.count,
                              "resolved_at": resolved_at if resolved else None}
        if rng.random() < 0.3:  # a replay consumes topics side by side: the first request before the group
            events.insert(0, events.pop(1))
        lives.append(events)

    interleaved: list[Envelope[Any]] = []
    while any(lives):
        interleaved.append(rng.choice([one for one in lives if one]).pop(0))
    return interleaved, expected, {value: name for name, value in ids.items()}


def read_models(database_url: str, workspace: str, labels: dict[Any, str]) -> dict[str, Any]:
    """The workspace's rows, every id named by its label (the same in every workspace)."""
    by_text = {str(value): name for value, name in labels.items()}

    def name(value: Any) -> Any:
        if isinstance(value, dict):  # JSON columns name ids as text
            return {k: name(v) for k, v in value.items()}
        if isinstance(value, list):
            return [name(v) for v in value]
        if isinstance(value, uuid.UUID):
            return labels.get(value, value)
        return by_text.get(value, value.replace(workspace, "ws")) if isinstance(value, str) else value

    def named(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(name(v) for v in row) for row in rows]

    with psycopg.connect(database_url) as conn:
        def q(sql: str) -> list[tuple[Any, ...]]:
            return named(conn.execute(sql, {"ws": workspace}).fetchall())

        ids = [k for k, v in labels.items() if v.count("/") == 0]
        return {
            "groups": sorted(q("SELECT group_id, status, severity, count, first_seen_at, last_seen_at, channel, "
                               "runbook_url, rule_id, quick_actions, notified_at, acknowledged_at, acknowledged_by, "
                               "resolved_at, resolved_by, reopen_count, flapping, person_acted_at, assignee "
                               "FROM query.groups WHERE workspace_id = %(ws)s")),
            "timeline": sorted(q("SELECT t.event_id, t.group_id, t.at, t.kind, t.detail FROM query.timeline t "
                                 "JOIN query.groups g USING (group_id) WHERE g.workspace_id = %(ws)s")),
            "notifications": sorted(q("SELECT notification_id, group_id, kind, channel, status, error, attempts, "
                                      "latency_ms, requested_at, finished_at FROM query.notifications "
                                      "WHERE workspace_id = %(ws)s")),
            "outcomes": sorted(q("SELECT command_id, group_id, action, outcome, event, reason, by, at "
                                 "FROM query.command_outcomes WHERE workspace_id = %(ws)s")),
            "change_feed": q("SELECT event_id, type, data FROM query.group_changes "
                             "WHERE workspace_id = %(ws)s ORDER BY seq"),
            "notes": sorted(q("SELECT note_id, group_id, text, by, at FROM query.notes WHERE workspace_id = %(ws)s")),
            "pending": named(conn.execute("SELECT group_id FROM query.pending_group_routes WHERE group_id = ANY(%s)",
                                          (ids,)).fetchall()),
        }


async def test_a_batch_leaves_the_read_models_as_its_events_one_by_one_would(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "query", Path(signalcraft_query_api.__file__).parent / "migrations")
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine, query_tables)
    seed = 1307
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        for mode in BATCHINGS:
            workspace = f"ws-{uuid.uuid4().hex[:8]}"
            events, expected, labels = life(workspace, random.Random(seed))
            await handle_in_batches(uow_factory, events, project, mode, random.Random(seed + 1), largest=25)
            outcomes[mode] = read_models(database_url, workspace, labels)
            groups = {row[0]: row for row in outcomes[mode]["groups"]}
            for name, want in expected.items():
                row = groups[name]
                assert (row[1], row[3]) == (want["status"], want["count"]), (mode, name)
                assert row[6] == want["channel"] and row[10] == want["notified_at"], (mode, name)
                assert row[11] == want["acknowledged_at"] and row[13] == want["resolved_at"], (mode, name)
    finally:
        await engine.dispose()

    one_by_one = outcomes["one by one"]
    assert len(one_by_one["groups"]) == GROUPS and one_by_one["pending"] == []
    assert len(one_by_one["change_feed"]) > 4 * GROUPS and one_by_one["outcomes"] and one_by_one["notes"]
    for mode in ("one batch", "random sizes"):
        for table, rows in one_by_one.items():
            assert outcomes[mode][table] == rows, (mode, table)

