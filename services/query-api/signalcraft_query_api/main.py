"""query-api: every topic -> read models in Postgres; REST for the frontend; configuration owner."""

from __future__ import annotations

from pathlib import Path

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Topic

from .adapters.command_api import router as command_router
from .adapters.config_api import router as config_router
from .adapters.escalation_api import router as escalation_router
from .adapters.read_api import router as read_router
from .handlers import fingerprint_stored_secrets, project
from .repository.tables import tables


class QueryApiSettings(ServiceSettings):
    http_port: int = 8000
    admin_token: str = ""
    public_ingest_url: str = "http://127.0.0.1:8001"


def create_service(settings: QueryApiSettings) -> Service:
    if not settings.admin_token:
        raise RuntimeError("set SIGNALCRAFT_ADMIN_TOKEN: the API and the CLI authenticate with it")

    async def expose_settings(svc: Service) -> None:
        svc.app_state.admin_token = settings.admin_token  # type: ignore[attr-defined]
        svc.app_state.public_ingest_url = settings.public_ingest_url  # type: ignore[attr-defined]

    service = Service(name="query-api", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations",
                      routers=[read_router, config_router, command_router, escalation_router],
                      on_startup=[expose_settings, fingerprint_stored_secrets])
    service.add_consumer(
        "query-api",
        [Topic.ALERTS_NORMALIZED, Topic.GROUPS_EVENTS, Topic.NOTIFICATIONS_REQUESTED, Topic.NOTIFICATIONS_RESULTS,
         Topic.ESCALATIONS, Topic.DEADLETTER],
        project,
    )
    return service


def main() -> None:
    create_service(QueryApiSettings()).run()
