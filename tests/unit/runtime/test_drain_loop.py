"""Service.add_drain_loop: the background loop behind grouping's update flush and escalator's timers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings


def service() -> Service:
    return Service(name="t", settings=ServiceSettings(), tables=ServiceTables("t"), migrations=Path("."))


async def run_until(loop_task: asyncio.Task[None], done: asyncio.Event) -> None:
    await asyncio.wait_for(done.wait(), 5)
    loop_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop_task


async def test_it_drains_until_nothing_is_done_then_pauses() -> None:
    svc, calls, drained = service(), [], asyncio.Event()
    results = iter([3, 2, 0, 5])

    async def step() -> int:
        calls.append(len(calls))
        if len(calls) == 3:
            drained.set()
        return next(results, 0)

    svc.add_drain_loop("drain", step, every_s=60)  # a pause of a minute: visible as no 4th call
    loop = svc.background[-1]
    assert loop.__name__ == "drain"  # the task's name, as /readyz reports a stopped one
    task = asyncio.create_task(loop(svc))
    await asyncio.wait_for(drained.wait(), 5)  # 3, 2, 0 back to back: a pause in between would time out
    await asyncio.sleep(0.2)
    assert len(calls) == 3  # paused after the step that did nothing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_after_the_pause_it_drains_again() -> None:
    svc, done = service(), asyncio.Event()
    results = iter([0, 0, 1])

    async def step() -> int:
        n = next(results, 0)
        if n == 1:
            done.set()
        return n

    svc.add_drain_loop("drain", step, every_s=0.01)
    await run_until(asyncio.create_task(svc.background[-1](svc)), done)


async def test_a_database_outage_is_waited_out_and_any_other_error_stops_it() -> None:
    svc, done = service(), asyncio.Event()
    outcomes: list[BaseException | int] = [OperationalError("SELECT 1", {}, ConnectionError("down")), 0]

    async def step() -> int:
        outcome = outcomes.pop(0) if outcomes else 0
        if not outcomes:
            done.set()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    svc.add_drain_loop("drain", step, every_s=0.01)
    await run_until(asyncio.create_task(svc.background[-1](svc)), done)

    async def broken() -> int:
        raise ValueError("a bug")

    svc.add_drain_loop("broken", broken, every_s=0.01)
    with pytest.raises(ValueError):
        await asyncio.wait_for(svc.background[-1](svc), 5)
