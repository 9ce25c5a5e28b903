"""router: groups.events -> notifications.requested (+ escalations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, Topic

from .handlers import handle_batch
from .repository import tables


class RouterSettings(ServiceSettings):
    http_port: int = 8003


def create_service(settings: RouterSettings) -> Service:
    service = Service(name="router", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations", needs_config=True)

    async def on_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        assert service.config is not None
        await handle_batch(uow, envelopes, service.config.state)

    # A rule saved a moment before an alert must route it: the user tests a new rule exactly so.
    service.add_consumer("router", [Topic.GROUPS_EVENTS], on_batch, sync_config_every_batch=True,
                         alert_path=True)
    return service


def main() -> None:
    create_service(RouterSettings()).run()
