"""One rebuild of the read models at a time: the fuzz suite's concurrent POSTs restarted the consumer
twice over and TRUNCATEd into each other (a deadlock, answered 500)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from signalcraft_query_api import handlers


class SlowRestart:
    """A service whose consumer restart waits until the test lets it finish."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.restarts = 0

    async def restart_consuming(self, between: Any) -> None:
        self.restarts += 1
        await self.release.wait()


async def test_a_second_rebuild_while_one_runs_is_refused_and_a_later_one_is_not() -> None:
    service = SlowRestart()
    first = asyncio.create_task(handlers.rebuild_read_models(service, consumer=None))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    with pytest.raises(handlers.RebuildRunning):
        await handlers.rebuild_read_models(service, consumer=None)  # type: ignore[arg-type]
    service.release.set()
    await first
    assert service.restarts == 1
    await handlers.rebuild_read_models(service, consumer=None)  # type: ignore[arg-type]
    assert service.restarts == 2


async def test_a_failed_rebuild_does_not_block_the_next() -> None:
    class Failing(SlowRestart):
        async def restart_consuming(self, between: Any) -> None:
            raise RuntimeError("broker gone")

    service = Failing()
    with pytest.raises(RuntimeError):
        await handlers.rebuild_read_models(service, consumer=None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):  # refused by the broker again, not by a stale guard
        await handlers.rebuild_read_models(service, consumer=None)  # type: ignore[arg-type]
