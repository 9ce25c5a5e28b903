"""escalator: escalations + groups.events -> durable timers -> notifications.requested, groups.commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from signalcraft_runtime.clock import utcnow
from signalcraft_runtime.consumer import is_transient
from signalcraft_runtime.logs import get_logger
from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, Topic

from .timers import fire_due, handle_batch, tables

log = get_logger(__name__)


class EscalatorSettings(ServiceSettings):
    http_port: int = 8005
    timer_tick_seconds: float = 1.0


def create_service(settings: EscalatorSettings) -> Service:
    service = Service(name="escalator", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)

    async def on_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        await handle_batch(uow, envelopes, service.config.state if service.config else None)

    async def timer_loop(svc: Service) -> None:
        while True:
            try:
                while await fire_due(svc.uow, utcnow()) > 0:
                    pass
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("timers not fired, database unavailable", error=repr(exc))
            await asyncio.sleep(settings.timer_tick_seconds)

    service.add_consumer("escalator", [Topic.ESCALATIONS, Topic.GROUPS_EVENTS], on_batch)
    service.background.append(timer_loop)
    return service


def main() -> None:
    create_service(EscalatorSettings()).run()
