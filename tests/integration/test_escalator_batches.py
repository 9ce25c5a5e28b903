"""The escalator holds a batch's re-arms, payload refreshes and statuses back and writes them one
statement per kind (issue 13: three statements per group update were most of its time). On a real
PostgreSQL: the same events handled one per batch, all in one batch, or in batches of random sizes leave
the same timers (due time, state, payload, cause) and statuses, and cancel the same escalations."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import signalcraft_escalator
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    EscalationArmed, GroupAcknowledged, GroupOpened, GroupReopened, GroupResolved, GroupSnapshot, GroupSnoozed,
    GroupStatus, GroupUnsnoozed, GroupUpdated,
)
from signalcraft_escalator.handlers import handle_batch
from signalcraft_escalator.repository import tables as escalator_tables

from .batches import BATCHINGS, handle_in_batches

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)
GROUPS = 14


def life(workspace: str, rng: random.Random) -> tuple[list[Envelope[Any]], dict[uuid.UUID, str]]:
    """Every group's events, each group's in order, groups interleaved; and every group's label."""
    labels: dict[uuid.UUID, str] = {}
    lives: list[list[Envelope[Any]]] = []
    for g in range(GROUPS):
        group_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace}/g{g}")
        labels[group_id] = f"g{g}"
        key, clock, events = f"{workspace}:sentry:p:prod:fp{g}", [T0 + timedelta(minutes=g)], []
        snapshot = GroupSnapshot(group_id=group_id, group_key=key, source="sentry", project="p", environment="prod",
                                 fingerprint=f"fp{g}", title=f"Error {g}", severity=Severity.HIGH,
                                 status=GroupStatus.OPEN, count=1, first_seen_at=clock[0], last_seen_at=clock[0])

        def emit(data: Any, name: str) -> None:
            clock[0] += timedelta(seconds=rng.randrange(1, 90))
            events.append(Envelope.wrap(data, workspace_id=workspace, key=key, correlation_id=f"{name}-{g}",
                                        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{workspace}/g{g}/{name}"),
                                        occurred_at=clock[0]))

        def moved(**changes: Any) -> GroupSnapshot:
            return snapshot.model_copy(update={"last_seen_at": clock[0], **changes})

        emit(GroupOpened(group=snapshot), "opened")
        for route in ("r1", "r2")[:rng.choice((1, 2))]:
            emit(EscalationArmed(group=snapshot, channel="#oncall", due_at=clock[0] + timedelta(minutes=5),
                                 rule_id=route, route=route), f"armed-{route}")
        for u in range(rng.randrange(1, 5)):
            snapshot = moved(count=snapshot.count + 1)
            emit(GroupUpdated(group=snapshot, alerts_added=1), f"updated{u}")
        step = rng.choice(("ack", "snooze", "resolve", "none"))
        if step == "ack":
            snapshot = moved(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="user:u1")
            emit(GroupAcknowledged(group=snapshot, by="user:u1"), "ack")
        elif step == "snooze":
            snapshot = moved(status=GroupStatus.SNOOZED)
            emit(GroupSnoozed(group=snapshot, until=clock[0] + timedelta(hours=1), by="user:u1"), "snoozed")
            if rng.random() < 0.5:
                snapshot = moved(status=GroupStatus.OPEN)
                emit(GroupUnsnoozed(group=snapshot, by="user:u1", reason="manual"), "unsnoozed")
        elif step == "resolve":
            snapshot = moved(status=GroupStatus.RESOLVED)
            emit(GroupResolved(group=snapshot, reason="manual", by="user:u2"), "resolved")
            if rng.random() < 0.6:
                snapshot = moved(status=GroupStatus.OPEN, count=snapshot.count + 1, reopen_count=1)
                emit(GroupReopened(group=snapshot, flap_count=1, flapping=False), "reopened")
                # the router's view of the group, newer than the reopen's refresh of the old escalation
                emit(EscalationArmed(group=moved(title=f"Error {g} again"), channel="#oncall", rule_id="r1", route="r1",
                                     due_at=clock[0] + timedelta(minutes=5), rearm=True), "rearmed")
                if rng.random() < 0.5:
                    snapshot = moved(count=snapshot.count + 1)
                    emit(GroupUpdated(group=snapshot, alerts_added=1), "updated-after")
        lives.append(events)
    interleaved: list[Envelope[Any]] = []
    while any(lives):
        interleaved.append(rng.choice([one for one in lives if one]).pop(0))
    return interleaved, labels


def stored(database_url: str, labels: dict[uuid.UUID, str], workspace: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        timers = conn.execute("SELECT group_id, kind, route, due_at, state, payload, correlation_id FROM "
                              "escalator.timers WHERE group_id = ANY(%s)", (list(labels),)).fetchall()
        statuses = conn.execute("SELECT group_id, status FROM escalator.group_status WHERE group_id = ANY(%s)",
                                (list(labels),)).fetchall()
        cancelled = conn.execute("SELECT key FROM escalator.outbox WHERE event_type = 'escalation.cancelled' "
                                 "AND key LIKE %s", (f"{workspace}:%",)).fetchall()

    def named(value: Any) -> str:  # ids and keys made from the workspace, as in every workspace
        text = str(value).replace(workspace, "ws")
        for group_id, label in labels.items():
            text = text.replace(str(group_id), label)
        return text

    return {"timers": sorted((labels[g], kind, route, due_at, state, named(payload), cause.split("-")[0])
                             for g, kind, route, due_at, state, payload, cause in timers),
            "statuses": sorted((labels[g], s) for g, s in statuses),
            "cancelled": sorted(named(k) for (k,) in cancelled)}


async def test_a_batch_leaves_the_timers_as_its_events_one_by_one_would(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "escalator",
                            Path(signalcraft_escalator.__file__).parent / "migrations")
    engine = create_engine(database_url)
    uow_factory = UnitOfWorkFactory(engine, escalator_tables)
    seed = 12
    outcomes: dict[str, dict[str, Any]] = {}
    try:
        for mode in BATCHINGS:
            workspace = f"ws-{uuid.uuid4().hex[:8]}"
            events, labels = life(workspace, random.Random(seed))
            await handle_in_batches(uow_factory, events, lambda uow, batch: handle_batch(uow, batch, None), mode,
                                    random.Random(seed + 1), largest=20)
            outcomes[mode] = stored(database_url, labels, workspace)
    finally:
        await engine.dispose()
    one_by_one = outcomes["one by one"]
    kinds = {(row[1], row[4]) for row in one_by_one["timers"]}
    assert {("escalation", "pending"), ("escalation", "cancelled"), ("auto_close", "pending")} <= kinds
    assert one_by_one["cancelled"] and len(one_by_one["statuses"]) == GROUPS
    for mode in ("one batch", "random sizes"):
        assert outcomes[mode] == one_by_one, mode
