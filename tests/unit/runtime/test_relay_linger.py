"""The outbox relay lingers for more commits only while earlier batches are in flight.

Driven without PostgreSQL or a broker: the outbox is a list, the publisher hands out futures the
test resolves (the broker's acknowledgement), and the linger is a sleep the test releases.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.publisher import OutgoingMessage
from signalcraft_runtime.relay import OutboxRelay

LINGER_S = 0.025


class HeldPublisher:
    """Records each batch handed to the producer; its futures resolve when the test says."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.sent = asyncio.Event()

    async def send_many(self, messages: list[OutgoingMessage]) -> list[asyncio.Future[Any]]:
        futures = [asyncio.get_running_loop().create_future() for _ in messages]
        self.batches.append([m.payload for m in messages])
        self.futures += futures
        self.sent.set()
        return futures

    def acknowledge_all(self) -> None:
        for future in self.futures:
            if not future.done():
                future.set_result(None)

    async def next_batch(self) -> list[bytes]:
        await asyncio.wait_for(self.sent.wait(), 5)
        self.sent.clear()
        return self.batches[-1]


class HeldLinger:
    """The relay's sleep: records the linger asked for and returns only when released."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.entered.set()
        await self.release.wait()
        self.release.clear()


@pytest.fixture
async def relay() -> Any:
    outbox: list[tuple[int, str, str, bytes, None, float]] = []
    publisher, linger = HeldPublisher(), HeldLinger()
    relay = OutboxRelay(None, "postgresql://x/y", ServiceTables("t"), publisher,  # type: ignore[arg-type]
                        poll_interval=60.0, linger_s=LINGER_S, sleep=linger)

    async def read(after_id: int) -> list[Any]:
        return [row for row in outbox if row[0] > after_id]

    async def delete(ids: list[int]) -> None:
        outbox[:] = [row for row in outbox if row[0] not in ids]

    def commit(row_id: int) -> None:
        outbox.append((row_id, "alerts", "k", str(row_id).encode(), None, time.time() - 5.0))  # committed 5 s ago
        relay.wake()

    relay._read, relay._delete = read, delete  # type: ignore[method-assign]
    pipeline = asyncio.create_task(relay._pipeline())
    yield relay, commit, publisher, linger, outbox
    pipeline.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pipeline


async def test_an_idle_relay_publishes_a_commit_at_once(relay: Any) -> None:
    _, commit, publisher, linger, _ = relay
    commit(1)
    assert await publisher.next_batch() == [b"1"]
    assert linger.asked == []


async def test_while_a_batch_is_in_flight_commits_linger_and_go_together(relay: Any) -> None:
    relay_, commit, publisher, linger, outbox = relay
    commit(1)
    assert await publisher.next_batch() == [b"1"]  # not acknowledged: in flight

    commit(2)
    await asyncio.wait_for(linger.entered.wait(), 5)
    commit(3)  # arrives during the linger
    linger.release.set()
    assert await publisher.next_batch() == [b"2", b"3"]
    assert linger.asked == [LINGER_S]

    publisher.acknowledge_all()
    async with asyncio.timeout(5):
        while outbox or relay_._unacknowledged:
            await asyncio.sleep(0)
    commit(4)  # idle again: at once
    assert await publisher.next_batch() == [b"4"]
    assert linger.asked == [LINGER_S]


async def test_rows_handed_to_the_producer_observe_their_delay_since_their_commit(relay: Any) -> None:
    _, commit, publisher, _, _ = relay

    def delays(le: str) -> float:
        return REGISTRY.get_sample_value("signalcraft_outbox_relay_delay_seconds_bucket",
                                         {"schema": "t", "le": le}) or 0.0

    before_count, before_fast, before_5s = delays("+Inf"), delays("2.5"), delays("10.0")
    commit(1)
    commit(2)
    await publisher.next_batch()
    assert delays("+Inf") == before_count + 2
    assert delays("10.0") == before_5s + 2  # committed 5 s before: between 2.5 and 10 s
    assert delays("2.5") == before_fast
