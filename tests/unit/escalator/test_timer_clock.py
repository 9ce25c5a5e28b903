"""The timer loop's clock: it sleeps until the earliest timer is due, and a commit wakes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from signalcraft_escalator.domain.timers import wait_before_next_look
from signalcraft_escalator.timer_clock import TimerClock

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_loop_sleeps_until_the_earliest_timer_is_due() -> None:
    assert wait_before_next_look(NOW + timedelta(seconds=2.5), NOW, longest_s=5, shortest_s=0.05) == 2.5


def test_the_loop_looks_again_at_least_every_longest_wait() -> None:
    assert wait_before_next_look(None, NOW, longest_s=5, shortest_s=0.05) == 5
    assert wait_before_next_look(NOW + timedelta(hours=1), NOW, longest_s=5, shortest_s=0.05) == 5


def test_a_due_timer_it_could_not_take_does_not_make_the_loop_spin() -> None:
    """Another replica holds it locked (SKIP LOCKED): this loop found nothing to fire, yet it is due."""
    assert wait_before_next_look(NOW - timedelta(seconds=3), NOW, longest_s=5, shortest_s=0.05) == 0.05


async def test_a_pause_ends_when_the_earliest_timer_is_due_not_at_the_longest_wait() -> None:
    async def due_soon() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=0.2)

    clock = TimerClock(due_soon, longest_s=3600)
    await asyncio.wait_for(clock.pause(), timeout=30)  # slept the hour: TimeoutError


async def test_a_commit_wakes_a_pause_with_no_timer_pending() -> None:
    read = asyncio.Event()

    async def nothing_pending() -> None:
        read.set()
        return None

    clock = TimerClock(nothing_pending, longest_s=3600)
    pausing = asyncio.create_task(clock.pause())
    await read.wait()
    clock.wake()
    await asyncio.wait_for(pausing, timeout=30)


async def test_a_commit_while_the_next_due_time_is_read_is_not_lost() -> None:
    """The timer committed just after the read is not in it: the wake must still end the pause."""
    clock: TimerClock

    async def read_then_commit() -> None:
        clock.wake()  # a batch commits a timer while this read is on its way
        return None

    clock = TimerClock(read_then_commit, longest_s=3600)
    await asyncio.wait_for(clock.pause(), timeout=30)


async def test_a_wake_before_the_drain_does_not_cut_the_next_pause_short() -> None:
    """A wake that came while the loop was draining is covered by that drain's read: stale, not kept."""
    async def nothing_pending() -> None:
        return None

    clock = TimerClock(nothing_pending, longest_s=0.3)
    clock.wake()
    started = asyncio.get_running_loop().time()
    await clock.pause()
    assert asyncio.get_running_loop().time() - started >= 0.25
