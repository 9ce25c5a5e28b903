"""query-api: every topic -> read models in Postgres; REST for the frontend; configuration owner."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import Field

from signalcraft_runtime.service import Service
from signalcraft_runtime.settings import ServiceSettings
from signalcraft_schemas import Topic

from .adapters.command_api import router as command_router
from .adapters.config_api import router as config_router
from .adapters.escalation_api import router as escalation_router
from .adapters.identity_api import router as identity_router
from .adapters.oidc import oidc_verifier
from .adapters.read_api import router as read_router
from .adapters.simulate_api import router as simulate_router
from .adapters.stream_api import router as stream_router
from .handlers import alert_on_silent_sources, check_due_slack_tokens, fingerprint_stored_secrets, project
from .repository.tables import tables
from .adapters.admin_api import router as admin_router
from .adapters.integration_api import router as integration_router
from .adapters.slack_oauth_api import public_router as slack_public_router, router as slack_router
from .domain.retention import PROJECTION_GROUP, RetentionPolicy, retention_period
from .domain.slack_oauth import DEFAULT_SCOPES
from .handlers import apply_retention, expire_secret_rotations, fold_dashboard_rollup, use_projection_generation


class QueryApiSettings(ServiceSettings):
    http_port: int = 8000
    admin_token: str = ""
    public_ingest_url: str = "http://127.0.0.1:8001"
    # OIDC/JWT bearer tokens (a gateway's or the frontend's identity provider); all three, or JWTs are refused.
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    slack_base_url: str = "https://slack.com/api/"
    cors_origins: list[str] = Field(default_factory=list, description='Origins the frontend is served from, '
                                    'e.g. ["https://app.example.com"] (JSON); empty: no cross-origin access')
    slack_token_check_seconds: float = Field(default=3600.0, gt=0, description="How often each Slack token is "
                                             "checked with auth.test (a newly saved one within seconds)")
    # Integrations and Slack install (issue 11.3)
    integration_secret_grace_seconds: int = Field(default=86_400, ge=0, description="After a secret rotation, how "
                                                  "long the old secret is still accepted (a request may say otherwise)")
    test_webhook_ingest_url: str = Field(default="", description="Where test webhooks are posted; default "
                                         "public_ingest_url")
    slack_client_id: str = Field(default="", description="The Slack app's client id (OAuth v2 install)")
    slack_client_secret: str = Field(default="", description="The Slack app's client secret")
    slack_redirect_url: str = Field(default="", description="This API's /slack/oauth/callback as Slack redirects "
                                    "to it (must be one of the app's redirect URLs)")
    slack_app_signing_secret: str = Field(default="", description="The Slack app's signing secret, stored with "
                                          "each OAuth-installed connection (its button clicks are signed with it)")
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"
    slack_scopes: str = DEFAULT_SCOPES
    # Retention (issue 11.6): a duration (90d, 12h, P30D, seconds) or off
    retention_alerts: str = Field(default="90d", description="How long alerts are kept in the read models")
    retention_timelines: str = Field(default="90d", description="How long group timeline entries are kept")
    retention_notifications: str = Field(default="90d", description="How long notification records are kept")
    retention_dead_letters: str = Field(default="30d", description="How long dead letters are kept")
    retention_cleanup_seconds: float = Field(default=3600.0, gt=0, description="How often the cleanup runs")
    # The dashboard reads the changes not yet folded too: the fold only keeps that remainder small.
    rollup_fold_seconds: float = Field(default=5.0, gt=0, description="How often the dashboard's group and "
                                       "delivery changes are folded into its hourly sums")
    # Sources gone silent (issue 11.2): integrations with alert_when_silent=true raise an alert of their own
    silence_check_seconds: float = Field(default=60.0, gt=0, description="How often integrations are checked "
                                         "for silence (alert_when_silent)")

    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(alerts=retention_period(self.retention_alerts),
                               timelines=retention_period(self.retention_timelines),
                               notifications=retention_period(self.retention_notifications),
                               dead_letters=retention_period(self.retention_dead_letters))


def create_service(settings: QueryApiSettings) -> Service:
    if not settings.admin_token:
        raise RuntimeError("set SIGNALCRAFT_ADMIN_TOKEN: the API and the CLI authenticate with it")

    async def expose_settings(svc: Service) -> None:
        svc.app_state.admin_token = settings.admin_token  # type: ignore[attr-defined]
        svc.app_state.public_ingest_url = settings.public_ingest_url  # type: ignore[attr-defined]
        svc.app_state.oidc = oidc_verifier(  # type: ignore[attr-defined]
            settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)

    service = Service(name="query-api", settings=settings, tables=tables,
                      migrations=Path(__file__).parent / "migrations",
                      routers=[read_router, config_router, command_router, identity_router, simulate_router, escalation_router],
                      on_startup=[expose_settings, fingerprint_stored_secrets])
    service.routers.append(stream_router)
    service.app_setup.append(partial(allow_origins, settings.cors_origins))
    service.add_drain_loop("slack-token-check", partial(check_due_slack_tokens, service,
                                                        settings.slack_token_check_seconds), every_s=5.0)
    service.routers.extend([integration_router, slack_router, slack_public_router, admin_router])
    service.add_drain_loop("secret-rotation-expiry", partial(expire_secret_rotations, service), every_s=60.0)
    service.add_drain_loop("retention-cleanup", partial(apply_retention, service.uow, settings.retention()),
                           every_s=settings.retention_cleanup_seconds)
    service.add_drain_loop("dashboard-rollup-fold", partial(fold_dashboard_rollup, service.uow),
                           every_s=settings.rollup_fold_seconds)
    service.add_drain_loop("silent-sources", partial(alert_on_silent_sources, service),
                           every_s=settings.silence_check_seconds)
    projection = service.add_consumer(
        PROJECTION_GROUP,
        [Topic.ALERTS_NORMALIZED, Topic.GROUPS_EVENTS, Topic.NOTIFICATIONS_REQUESTED, Topic.NOTIFICATIONS_RESULTS,
         Topic.ESCALATIONS, Topic.DEADLETTER],
        project,
    )
    service.before_consuming.append(partial(use_projection_generation, consumer=projection))
    return service


# Every method an /api route answers (a contract test holds the OpenAPI document to it).
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def allow_origins(origins: list[str], app: FastAPI) -> None:
    """CORS for a frontend on another origin: the API's bearer tokens and Last-Event-ID may cross."""
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=CORS_METHODS,
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"], max_age=600)


def main() -> None:
    create_service(QueryApiSettings()).run()
