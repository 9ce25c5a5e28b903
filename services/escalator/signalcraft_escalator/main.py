"""escalator: escalations + groups.events -> durable timers -> notifications.requested, groups.commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, Topic

from .handlers import fire_due, handle_batch, next_due
from .repository import tables
from .timer_clock import TimerClock


class EscalatorSettings(ServiceSettings):
    http_port: int = 8005
    # The timer loop wakes when the earliest timer is due and when this replica arms one; this is the
    # longest it sleeps, for timers armed by another replica that died before firing them.
    timer_longest_wait_seconds: float = 5.0


def create_service(settings: EscalatorSettings) -> Service:
    service = Service(name="escalator", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)

    clock = TimerClock(lambda: next_due(service.uow), longest_s=settings.timer_longest_wait_seconds)

    async def on_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        await handle_batch(uow, envelopes, service.config.state if service.config else None)
        uow.after_commit(clock.wake)  # it may have armed a timer due before the loop's next look

    service.add_consumer("escalator", [Topic.ESCALATIONS, Topic.GROUPS_EVENTS], on_batch)
    service.add_drain_loop("timer_loop", lambda: fire_due(service.uow, utcnow(), config=service.config.state if service.config else None),
                           every_s=1.0, pause=clock.pause)
    return service


def main() -> None:
    create_service(EscalatorSettings()).run()
