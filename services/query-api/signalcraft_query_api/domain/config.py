"""Configuration decisions: what each admin command becomes as a config event, and under which key.

The config topic is compacted by key (`workspace:<id>`, `integration:<id>`, `slack:<workspace>`,
`rule:<id>`): the latest event per key is the entity's state, and a deletion replaces its last save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from signalcraft_schemas.alerts import SOURCES
from signalcraft_schemas.events import (
    EventData, IntegrationConfigured, RoutingConditions, RoutingRuleDeleted, RoutingRuleSaved, SlackConnected,
    WorkspaceConfigured,
)


class UnknownProvider(ValueError):
    pass


class UnknownWorkspace(LookupError):
    pass


class UnknownRule(LookupError):
    pass


@dataclass(frozen=True)
class WorkspaceSettings:
    name: str
    dedup_window_minutes: int
    auto_close_minutes: int
    default_channel: str | None = None


@dataclass(frozen=True)
class NewIntegration:
    workspace_id: str
    provider: str
    name: str
    options: dict[str, str] = field(default_factory=dict)
    secret: str | None = None  # the provider's own secret (e.g. Sentry's client secret); generated when None


@dataclass(frozen=True)
class SlackCredentials:
    workspace_id: str
    bot_token: str
    signing_secret: str
    team_id: str | None = None


@dataclass(frozen=True)
class RuleDefinition:
    workspace_id: str
    name: str
    channel: str
    position: int = 100
    conditions: RoutingConditions = field(default_factory=RoutingConditions)
    runbook_url: str | None = None
    escalate_after_minutes: int | None = None
    enabled: bool = True


E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class ConfigChange(Generic[E]):
    """A config event, the workspace it belongs to and its compaction key on the config topic."""

    event: E
    workspace_id: str
    key: str


def workspace_configured(workspace_id: str, settings: WorkspaceSettings) -> ConfigChange[WorkspaceConfigured]:
    event = WorkspaceConfigured(
        workspace_id=workspace_id, name=settings.name, dedup_window_minutes=settings.dedup_window_minutes,
        auto_close_minutes=settings.auto_close_minutes, default_channel=settings.default_channel)
    return ConfigChange(event, workspace_id, f"workspace:{workspace_id}")


def check_provider(provider: str) -> None:
    if provider not in SOURCES:
        raise UnknownProvider(f"unknown provider {provider!r}; one of {', '.join(SOURCES)}")


def integration_configured(integration_id: str, new: NewIntegration,
                           secret_encrypted: str) -> ConfigChange[IntegrationConfigured]:
    event = IntegrationConfigured(
        integration_id=integration_id, workspace_id=new.workspace_id, provider=new.provider, name=new.name,
        secret_encrypted=secret_encrypted, options=new.options)
    return ConfigChange(event, new.workspace_id, f"integration:{integration_id}")


def integration_receipt(event: IntegrationConfigured, secret: str, public_ingest_url: str) -> dict[str, Any]:
    """What the operator configures on the provider's side: the webhook URL and the secret, shown
    once (afterwards it is stored encrypted only)."""
    base = public_ingest_url.rstrip("/")
    receipt = {"integration_id": event.integration_id, "workspace_id": event.workspace_id,
               "provider": event.provider, "name": event.name,
               "webhook_url": f"{base}/webhooks/{event.provider}/{event.integration_id}", "secret": secret}
    if event.provider == "pagerduty":
        receipt["events_v2_url"] = f"{base}/v2/enqueue"
    return receipt


def slack_connected(credentials: SlackCredentials, bot_token_encrypted: str,
                    signing_secret_encrypted: str) -> ConfigChange[SlackConnected]:
    event = SlackConnected(workspace_id=credentials.workspace_id, bot_token_encrypted=bot_token_encrypted,
                           signing_secret_encrypted=signing_secret_encrypted, team_id=credentials.team_id)
    return ConfigChange(event, credentials.workspace_id, f"slack:{credentials.workspace_id}")


def rule_saved(rule_id: str, rule: RuleDefinition) -> ConfigChange[RoutingRuleSaved]:
    event = RoutingRuleSaved(
        rule_id=rule_id, workspace_id=rule.workspace_id, name=rule.name, position=rule.position,
        conditions=rule.conditions, channel=rule.channel, runbook_url=rule.runbook_url,
        escalate_after_minutes=rule.escalate_after_minutes, enabled=rule.enabled)
    return ConfigChange(event, rule.workspace_id, f"rule:{rule_id}")


def rule_deleted(rule_id: str, workspace_id: str) -> ConfigChange[RoutingRuleDeleted]:
    return ConfigChange(RoutingRuleDeleted(rule_id=rule_id, workspace_id=workspace_id), workspace_id, f"rule:{rule_id}")


def rules_in_order(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the router evaluates them: by position, then id."""
    return sorted(definitions, key=lambda d: (d["position"], d["rule_id"]))
