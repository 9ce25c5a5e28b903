"""When the escalator's timer loop looks for due timers again: at the earliest pending timer's due
time, as soon as a batch of this replica has committed (it may have armed an earlier one), and at
least every `longest_s`. A fixed tick made every escalation wait up to a tick past its deadline and
cost a query a second on an idle stack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime

from signalcraft_runtime.clock import utcnow

from .domain.timers import wait_before_next_look


class TimerClock:
    def __init__(self, next_due: Callable[[], Awaitable[datetime | None]], longest_s: float,
                 shortest_s: float = 0.05, now: Callable[[], datetime] = utcnow) -> None:
        self._next_due = next_due
        self._longest_s = longest_s
        self._shortest_s = shortest_s
        self._now = now
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def pause(self) -> None:
        # Cleared before reading the next due time: a timer committed after the read wakes the wait.
        self._woken.clear()
        wait = wait_before_next_look(await self._next_due(), self._now(), self._longest_s, self._shortest_s)
        with suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._woken.wait()
