"""The provider registry: provider name -> Provider. Add a module, add it here, add its fixtures."""

from __future__ import annotations

from .base import Integration, ParsedWebhook, Provider, ProviderContext, SideEffect, WebhookRequest
from .alertmanager import AlertmanagerProvider
from .cloudwatch import CloudWatchProvider
from .datadog import DatadogProvider
from .grafana import GrafanaProvider
from .pagerduty import PagerDutyProvider
from .sentry import SentryProvider

PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        SentryProvider(),
        AlertmanagerProvider(),
        GrafanaProvider(),
        DatadogProvider(),
        CloudWatchProvider(),
        PagerDutyProvider(),
    )
}


def get_provider(name: str) -> Provider | None:
    return PROVIDERS.get(name)


__all__ = ["Integration", "PROVIDERS", "ParsedWebhook", "Provider", "ProviderContext", "SideEffect",
           "WebhookRequest", "get_provider"]
