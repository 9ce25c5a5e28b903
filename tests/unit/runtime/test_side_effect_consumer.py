"""SideEffectConsumer: begin (transaction 1), act outside any transaction, the crash point, finish
(transaction 2); the runtime dead-letters what the handler does not accept and waits out the database."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from aiokafka.structs import ConsumerRecord
from sqlalchemy.exc import OperationalError

from signalcraft_runtime.consumer import CrashPoint, SideEffectConsumer
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, encode
from signalcraft_schemas.events import NotificationRequested, WorkspaceConfigured

from ..builders import T0, make_request


class FakeUnitOfWork:
    """A transaction as the consumer sees it: the inbox claim, emitted events, commit."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._claimed: set[UUID] = set()
        self._staged: list[Envelope[Any]] = []

    async def __aenter__(self) -> FakeUnitOfWork:
        self._db.steps.append("open")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    async def claim(self, event_ids: list[UUID]) -> set[UUID]:
        new = {i for i in event_ids if i not in self._db.inbox and i not in self._claimed}
        self._claimed |= new
        return new

    def emit(self, envelope: Envelope[Any]) -> None:
        self._staged.append(envelope)

    async def commit(self) -> None:
        self._db.steps.append("commit")
        self._db.inbox |= self._claimed
        self._db.outbox += self._staged


class FakeDatabase:
    def __init__(self) -> None:
        self.inbox: set[UUID] = set()
        self.outbox: list[Envelope[Any]] = []
        self.steps: list[str] = []

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class RecordingHandler:
    """Claims in finish; leaves out what was finished before; fails finish `finish_failures` times."""

    def __init__(self, db: FakeDatabase, finish_failures: list[Exception] | None = None) -> None:
        self._db = db
        self.finish_failures = finish_failures or []
        self.begun: list[list[UUID]] = []

    async def begin(self, uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> list[Envelope[Any]]:
        self._db.steps.append("begin")
        self.begun.append([e.id for e in envelopes])
        return [e for e in envelopes if e.id not in self._db.inbox]

    async def act(self, pending: list[Envelope[Any]]) -> None:
        self._db.steps.append(f"act {len(pending)}")

    async def finish(self, uow: UnitOfWork, pending: list[Envelope[Any]]) -> None:
        self._db.steps.append("finish")
        if self.finish_failures:
            raise self.finish_failures.pop(0)
        await uow.claim([e.id for e in pending])


class RecordingCrashPoint(CrashPoint):
    def __init__(self, db: FakeDatabase) -> None:
        super().__init__(0)
        self._db = db

    def passed(self, records: int) -> None:
        self._db.steps.append(f"crash point {records}")


def consumer(db: FakeDatabase, handler: RecordingHandler) -> SideEffectConsumer[list[Envelope[Any]]]:
    return SideEffectConsumer(group_id="fx", topics=["notifications.requested"], handler=handler,
                              accepts=(NotificationRequested,), uow_factory=db,  # type: ignore[arg-type]
                              crash_point=RecordingCrashPoint(db))


def envelope(data: Any = None) -> Envelope[Any]:
    return Envelope.wrap(data or make_request(), workspace_id="ws", key="k", correlation_id="c", occurred_at=T0)


def record(value: bytes, offset: int = 0) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(topic="notifications.requested", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=b"k", value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=())


async def test_the_effect_happens_between_two_transactions_and_the_crash_point_before_the_second_commits() -> None:
    db = FakeDatabase()
    first, second = envelope(), envelope()
    await consumer(db, RecordingHandler(db)).process([record(encode(first)), record(encode(second), 1)])
    assert db.steps == ["open", "begin", "commit", "act 2", "crash point 2", "open", "finish", "commit"]
    assert db.inbox == {first.id, second.id}


async def test_a_redelivered_batch_that_was_finished_before_has_no_effect_again() -> None:
    db = FakeDatabase()
    env = envelope()
    handler = RecordingHandler(db)
    side_effects = consumer(db, handler)
    await side_effects.process([record(encode(env))])
    db.steps.clear()
    await side_effects.process([record(encode(env))])
    assert db.steps == ["open", "begin", "commit"]  # no act, no crash point, no finish
    assert (side_effects.stats.processed, side_effects.stats.duplicates, side_effects.stats.batches) == (1, 1, 1)


async def test_undecodable_and_unexpected_records_are_dead_lettered_once_and_a_repeat_is_handled_once() -> None:
    db = FakeDatabase()
    handler = RecordingHandler(db)
    side_effects = consumer(db, handler)
    env = envelope()
    unexpected = envelope(WorkspaceConfigured(workspace_id="ws", name="ws"))
    batch = [record(b"not json", 0), record(encode(unexpected), 1), record(encode(env), 2), record(encode(env), 3)]
    await side_effects.process(batch)
    assert handler.begun == [[env.id]]
    dead = [e.data for e in db.outbox]
    assert [(d.offset, d.original_type) for d in dead] == [(0, None), (1, unexpected.type)]
    assert dead[0].error.startswith("undecodable") and dead[1].error == f"unexpected event {unexpected.type}"
    await side_effects.process(batch[:2])  # redelivered: not dead-lettered twice
    assert len(db.outbox) == 2 and side_effects.stats.deadlettered == 2


async def test_a_database_outage_in_finish_retries_the_transaction_not_the_effect() -> None:
    db = FakeDatabase()
    outage = OperationalError("UPDATE", {}, ConnectionError("down"))
    await consumer(db, RecordingHandler(db, finish_failures=[outage])).process([record(encode(envelope()))])
    assert db.steps == ["open", "begin", "commit", "act 1", "crash point 1", "open", "finish", "open", "finish",
                        "commit"]


def test_a_service_registers_it_with_its_crash_point_and_names_its_group() -> None:
    service = Service(name="t", settings=ServiceSettings(crash_after_records=5), tables=ServiceTables("t"),
                      migrations=Path("."))
    db = FakeDatabase()
    added = service.add_side_effect_consumer("fx", ["notifications.requested"], RecordingHandler(db),
                                             accepts=(NotificationRequested,))
    assert service.consumers == [added]
    assert (added.group_id, added.uow_factory, added.crash_point._remaining) == ("fx", service.uow, 5)
