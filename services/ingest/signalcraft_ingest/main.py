"""ingest: provider webhooks -> durable raw deliveries -> alerts.normalized."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import Request
from pydantic import Field

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings

from .adapters.http import webhook_router
from .adapters.slack_interactions import SlackTeams, slack_interactions_router
from .adapters.sns import HttpProviderContext, sns_client
from .adapters.integrations import IntegrationDirectory
from .domain.sns_verification import DEFAULT_CERT_HOST_PATTERN
from .handlers import SlackActionHandler, WebhookHandler
from .repository import DeliveryWriter, tables


class IngestSettings(ServiceSettings):
    http_port: int = 8001
    max_body_bytes: int = 1_048_576
    group_commit_linger_ms: float = 2.0
    sns_cert_host_pattern: str = DEFAULT_CERT_HOST_PATTERN
    sns_ca_bundle: str | None = Field(
        default=None,
        description=(
            "PEM file of CA certificates trusted for the HTTPS requests ingest makes to SNS (signing "
            "certificate downloads, SubscribeURL confirmations), instead of the system trust store. "
            "Set it when those requests pass through a TLS-intercepting proxy or reach an SNS-compatible "
            "endpoint behind a private CA. Unset (default): the system trust store."
        ),
    )


def create_service(settings: IngestSettings) -> Service:
    def handler_of(request: Request) -> WebhookHandler:
        return request.app.state.webhook_handler

    def slack_handler_of(request: Request) -> SlackActionHandler:
        return request.app.state.slack_action_handler

    service = Service(
        name="ingest", settings=settings, tables=tables, migrations=Path(__file__).parent / "migrations",
        needs_config=True,
        routers=[webhook_router(handler_of, settings.max_body_bytes),
                 slack_interactions_router(slack_handler_of, settings.max_body_bytes)],
    )
    writer = DeliveryWriter(service.uow, linger_s=settings.group_commit_linger_ms / 1000)
    holder: dict[str, httpx.AsyncClient] = {}

    async def start_handler(svc: Service) -> None:
        if svc.secrets is None or svc.config is None:
            raise RuntimeError("ingest needs SIGNALCRAFT_SECRET_KEY to read integration secrets")
        client = holder["client"] = sns_client(settings.sns_ca_bundle)
        writer.start()
        svc.app_state.webhook_handler = WebhookHandler(  # type: ignore[attr-defined]
            IntegrationDirectory(svc.config.state, svc.secrets), writer,
            HttpProviderContext(client, settings.sns_cert_host_pattern), sync_config=svc.config.sync,
        )
        svc.app_state.slack_action_handler = SlackActionHandler(  # type: ignore[attr-defined]
            SlackTeams(svc.config.state, svc.secrets), writer)

    async def stop_handler(svc: Service) -> None:
        await writer.stop()
        if (client := holder.get("client")) is not None:
            await client.aclose()

    service.on_startup.append(start_handler)
    service.on_shutdown.append(stop_handler)
    return service


def main() -> None:
    create_service(IngestSettings()).run()
