"""Consumers off the alert path start a batch at most every `consumer_background_batch_interval_ms`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from signalcraft_runtime.consumer import BatchPace, ConsumerStats, subscribe_batches
from signalcraft_runtime.settings import ServiceSettings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.asyncio
async def test_a_quick_batch_waits_out_the_rest_of_the_interval() -> None:
    clock = Clock()
    pace = BatchPace(0.5, clock=clock, sleep=clock.sleep)
    started = clock()
    clock.now += 0.125  # the batch took 125 ms
    await pace.until_next(started)
    assert clock.slept == [0.375] and clock.now == started + 0.5


@pytest.mark.asyncio
async def test_a_batch_longer_than_the_interval_is_followed_at_once() -> None:
    clock = Clock()
    pace = BatchPace(0.5, clock=clock, sleep=clock.sleep)
    started = clock()
    clock.now += 0.75
    await pace.until_next(started)
    assert clock.slept == []


@pytest.mark.asyncio
async def test_an_interval_of_zero_never_waits() -> None:
    clock = Clock()
    pace = BatchPace(0.0, clock=clock, sleep=clock.sleep)
    await pace.until_next(clock())
    assert clock.slept == []


async def _one_batch(alert_path: bool, wait_s: float) -> list[int]:
    """Publish one record to a subscriber whose background interval is an hour; the batches handled."""
    broker = KafkaBroker()
    handled: list[int] = []

    async def process(records: list[Any]) -> None:
        handled.append(len(records))

    settings = ServiceSettings(consumer_background_batch_interval_ms=3_600_000)
    subscribe_batches(broker, settings, "group", ["topic"], process, ConsumerStats(), alert_path=alert_path)
    async with TestKafkaBroker(broker, with_real=False) as test_broker:
        await asyncio.wait_for(test_broker.publish(b"a", topic="topic"), wait_s)
    return handled


@pytest.mark.asyncio
async def test_a_background_consumer_waits_out_its_interval_after_a_batch() -> None:
    with pytest.raises(TimeoutError):
        await _one_batch(alert_path=False, wait_s=0.5)


@pytest.mark.asyncio
async def test_an_alert_path_consumer_is_not_paced() -> None:
    assert await _one_batch(alert_path=True, wait_s=30) == [1]
