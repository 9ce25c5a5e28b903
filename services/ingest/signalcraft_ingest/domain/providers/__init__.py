"""The provider registry: provider name -> Provider. Add a module, add it here, add its fixtures."""

from __future__ import annotations

from .alertmanager import AlertmanagerProvider
from .base import Provider
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
