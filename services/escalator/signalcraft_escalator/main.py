"""escalator: escalations + groups.events -> durable timers -> notifications.requested, groups.commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, Topic

from .handlers import fire_due, handle_batch
from .repository import tables


class EscalatorSettings(ServiceSettings):
    http_port: int = 8005
    timer_tick_seconds: float = 1.0


def create_service(settings: EscalatorSettings) -> Service:
    service = Service(name="escalator", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)

    async def on_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        await handle_batch(uow, envelopes, service.config.state if service.config else None)

    service.add_consumer("escalator", [Topic.ESCALATIONS, Topic.GROUPS_EVENTS], on_batch)
    service.add_drain_loop("timer_loop", lambda: fire_due(service.uow, utcnow(), config=service.config.state if service.config else None), every_s=settings.timer_tick_seconds)
    return service


def main() -> None:
    create_service(EscalatorSettings()).run()
