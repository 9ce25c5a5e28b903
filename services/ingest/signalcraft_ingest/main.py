"""ingest: provider webhooks -> durable raw deliveries -> alerts.normalized."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
from fastapi import Request
from pydantic import Field

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings

from .adapters.http import webhook_router
from .adapters.rate_limits import InFlightLimit, WebhookRateLimiter
from .adapters.slack_interactions import SlackTeams, slack_interactions_router
from .adapters.sns import HttpProviderContext, sns_client
from .adapters.integrations import IntegrationDirectory
from .domain.limits import RateLimit
from .domain.sns_verification import DEFAULT_CERT_HOST_PATTERN
from .domain.retention import retention_period
from .handlers import SlackActionHandler, WebhookHandler, clean_up_deliveries, report_throttled
from .repository import DeliveryWriter, prune_replay_guard, tables


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
    webhook_rate_per_second: float = Field(
        default=50.0, ge=0, description="Webhooks per second each integration may send to one ingest process, "
        "on average (a token bucket; over it: 429 with Retry-After, counted in delivery health). The integration "
        "option rate_limit_per_second overrides it. 0: no limit")
    webhook_rate_burst: float = Field(
        default=500.0, ge=1, description="Webhooks an integration may send at once before the rate applies; the "
        "integration option rate_limit_burst overrides it")
    throttled_report_seconds: float = Field(
        default=10.0, gt=0, description="How often the count of rate-limited webhooks is reported to delivery health")
    max_concurrent_webhooks: int = Field(
        default=256, ge=1, description="Webhooks one ingest process handles at once, from reading the body to the "
        "answer; one more is answered 503 with Retry-After")
    delivery_queue_limit: int = Field(
        default=2000, ge=1, description="Deliveries waiting for the group commit; when full a webhook is answered "
        "503 with Retry-After rather than queued without bound")
    replay_window_seconds: int = Field(
        default=86_400, ge=0, description="How long the same signed message (Sentry, Grafana) is refused as a "
        "replay (200 duplicate, nothing stored); the integration option replay_window_seconds overrides it. 0: off")
    retention_raw_deliveries: str = Field(
        default="30d", description="How long raw deliveries (webhook bodies as received) are kept: a duration "
        "(30d, 12h, P30D, seconds) or off; older ones are deleted by a cleanup every retention_cleanup_seconds")
    retention_cleanup_seconds: float = Field(default=3600.0, gt=0, description="How often the retention "
                                             "cleanup runs")


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
    writer = DeliveryWriter(service.uow, linger_s=settings.group_commit_linger_ms / 1000,
                            max_queue=settings.delivery_queue_limit)
    limiter = WebhookRateLimiter(RateLimit(settings.webhook_rate_per_second, settings.webhook_rate_burst))
    service.add_drain_loop("throttled-webhooks-report", partial(report_throttled, service.uow, limiter),
                           every_s=settings.throttled_report_seconds)
    service.add_drain_loop("replay-guard-pruning", partial(prune_replay_guard, service.uow), every_s=600.0)
    service.add_drain_loop("retention-raw-deliveries", partial(
        clean_up_deliveries, service.uow, retention_period(settings.retention_raw_deliveries)),
        every_s=settings.retention_cleanup_seconds)
    holder: dict[str, httpx.AsyncClient] = {}

    async def start_handler(svc: Service) -> None:
        if svc.secrets is None or svc.config is None:
            raise RuntimeError("ingest needs SIGNALCRAFT_SECRET_KEY to read integration secrets")
        client = holder["client"] = sns_client(settings.sns_ca_bundle)
        writer.start()
        svc.app_state.webhook_handler = WebhookHandler(  # type: ignore[attr-defined]
            IntegrationDirectory(svc.config.state, svc.secrets), writer,
            HttpProviderContext(client, settings.sns_cert_host_pattern), sync_config=svc.config.sync,
            config_ready=svc.config.ready.is_set, limiter=limiter,
            in_flight=InFlightLimit(settings.max_concurrent_webhooks), replay_window_s=settings.replay_window_seconds,
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
