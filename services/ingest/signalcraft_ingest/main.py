"""ingest: provider webhooks -> durable raw deliveries -> alerts.normalized."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from fastapi import Request
from pydantic import Field

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings

from .context import HttpProviderContext
from .http import WebhookReceiver, webhook_router
from .integrations import IntegrationDirectory
from .providers.cloudwatch import DEFAULT_CERT_HOST_PATTERN
from .storage import DeliveryWriter, tables


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
    def receiver_of(request: Request) -> WebhookReceiver:
        return request.app.state.receiver

    service = Service(
        name="ingest", settings=settings, tables=tables, migrations=Path(__file__).parent / "migrations",
        needs_config=True, routers=[webhook_router(receiver_of)],
    )
    writer = DeliveryWriter(service.uow, linger_s=settings.group_commit_linger_ms / 1000)
    holder: dict[str, object] = {}

    async def start_receiver(svc: Service) -> None:
        if svc.secrets is None or svc.config is None:
            raise RuntimeError("ingest needs SIGNALCRAFT_SECRET_KEY to read integration secrets")
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=settings.sns_ca_bundle) if settings.sns_ca_bundle else True)
        client = httpx.AsyncClient(timeout=5.0, verify=verify)
        holder["client"] = client
        writer.start()
        receiver = WebhookReceiver(
            IntegrationDirectory(svc.config.state, svc.secrets), writer,
            HttpProviderContext(client, settings.sns_cert_host_pattern), settings.max_body_bytes,
            sync_config=svc.config.sync,
        )
        svc.app_state.receiver = receiver  # type: ignore[attr-defined]

    async def stop_receiver(svc: Service) -> None:
        await writer.stop()
        client = holder.get("client")
        if isinstance(client, httpx.AsyncClient):
            await client.aclose()

    service.on_startup.append(start_receiver)
    service.on_shutdown.append(stop_receiver)
    return service


def main() -> None:
    create_service(IngestSettings()).run()
