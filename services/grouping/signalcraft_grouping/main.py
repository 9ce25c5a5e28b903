"""grouping: alerts.normalized + groups.commands -> groups.events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_runtime.unit_of_work import UnitOfWork
from signalcraft_schemas import Envelope, Topic

from .handlers import flush_due_updates, handle_batch
from .repository import tables


class GroupingSettings(ServiceSettings):
    http_port: int = 8002
    # A group's count reaches downstream (router, escalator, read models) at most this late.
    update_debounce_seconds: float = 5.0


def create_service(settings: GroupingSettings) -> Service:
    service = Service(
        name="grouping", settings=settings, tables=tables,
        migrations=Path(__file__).parent / "migrations", needs_config=True,
    )
    debounce = timedelta(seconds=settings.update_debounce_seconds)

    async def on_batch(uow: UnitOfWork, envelopes: list[Envelope[Any]]) -> None:
        await handle_batch(uow, envelopes, service.config.state if service.config else None, debounce)

    service.add_consumer("grouping", [Topic.ALERTS_NORMALIZED, Topic.GROUPS_COMMANDS], on_batch,
                         alert_path=True)
    # Held-back count updates are published once their debounce interval has passed.
    service.add_drain_loop("flush_loop", lambda: flush_due_updates(service.uow, debounce),
                           every_s=min(1.0, settings.update_debounce_seconds / 2))
    return service


def main() -> None:
    create_service(GroupingSettings()).run()
