"""The same events handled one by one, as one batch, or in batches of random sizes: what the batching
tests (projection, escalator) compare."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from signalcraft_runtime.unit_of_work import UnitOfWork, UnitOfWorkFactory
from signalcraft_schemas import Envelope

BATCHINGS = ("one by one", "one batch", "random sizes")


async def handle_in_batches(uow_factory: UnitOfWorkFactory, events: list[Envelope[Any]],
                            handle: Callable[[UnitOfWork, list[Envelope[Any]]], Awaitable[None]], batching: str,
                            rng: random.Random, largest: int) -> None:
    """`handle` over `events` in order, each batch in a transaction of its own (random sizes: 1 to
    `largest` - 1)."""
    i = 0
    while i < len(events):
        n = {"one by one": 1, "one batch": len(events)}.get(batching) or rng.randrange(1, largest)
        async with uow_factory() as uow:
            await handle(uow, events[i:i + n])
            await uow.commit()
        i += n
