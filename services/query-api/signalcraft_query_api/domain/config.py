"""Configuration decisions: what each admin command becomes as a config event, and under which key.

The config topic is compacted by key (`workspace:<id>`, `integration:<id>`, `slack:<workspace>`,
`rule:<id>`): the latest event per key is the entity's state, and a deletion replaces its last save.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from signalcraft_policies.routing import validate_rule
from signalcraft_schemas.alerts import SOURCES
from signalcraft_schemas.events import (
    EventData, IntegrationConfigured, QuickAction, RoutingConditions, RoutingRuleDeleted, RoutingRuleSaved,
    SeverityBump, SlackConnected, WorkspaceConfigured,
)

from .silence import silence_options_error


class UnknownProvider(ValueError):
    pass


class UnknownWorkspace(LookupError):
    pass


class UnknownRule(LookupError):
    pass


class InvalidIntegration(ValueError):
    """The integration could not work safely as asked, e.g. a required option is missing (422)."""


class SecretInUse(ValueError):
    """Another integration already authenticates with this secret (409): for PagerDuty the
    routing_key alone says which integration, so a shared key would route one workspace's events
    to another's."""


class RuleInAnotherWorkspace(ValueError):
    """A rule id that belongs to another workspace (409): a rule never moves between workspaces."""


class NotPublished(RuntimeError):
    """The change is committed but not yet on the config topic (503 with Retry-After): the relay
    publishes it; services may not see it for a moment. `result` is what the command answers."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("the change is committed but not yet published to the services; it will be: "
                         "retry a read shortly, do not repeat the change")
        self.result = result


@dataclass(frozen=True)
class WorkspaceSettings:
    name: str
    dedup_window_minutes: int
    auto_close_minutes: int
    default_channel: str | None = None
    # Seconds resolution (issue 9.7): when set, they win over the minute fields.
    dedup_window_seconds: int | None = None
    auto_close_seconds: int | None = None
    flap_threshold: int = 3
    flap_window_seconds: int = 3600
    flap_quiet_seconds: int = 1800
    severity_bump: SeverityBump | None = None  # off when None (issue 10.3)
    escalation_policy_id: str | None = None  # the default route's escalation policy (issue 10.1)


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
    escalate_after_seconds: int | None = None  # wins over escalate_after_minutes
    escalation_policy_id: str | None = None  # wins over escalate_after
    continue_matching: bool = False  # Alertmanager's `continue`: later matching rules route the group too
    mention: str = "here_for_high"  # none | here_for_high | usergroup:<S...>
    quick_actions: tuple[QuickAction, ...] = ()


E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class ConfigChange(Generic[E]):
    """A config event, the workspace it belongs to and its compaction key on the config topic."""

    event: E
    workspace_id: str
    key: str


def minutes_covering(seconds: int | None, minutes: int) -> int:
    """The minute field beside a seconds field: the whole minutes covering it, so readers that know
    only minutes see the nearest setting; the minutes as given when no seconds are set."""
    return max(1, -(-seconds // 60)) if seconds else minutes


def workspace_configured(workspace_id: str, settings: WorkspaceSettings) -> ConfigChange[WorkspaceConfigured]:
    event = WorkspaceConfigured(
        workspace_id=workspace_id, name=settings.name,
        dedup_window_minutes=minutes_covering(settings.dedup_window_seconds, settings.dedup_window_minutes),
        auto_close_minutes=minutes_covering(settings.auto_close_seconds, settings.auto_close_minutes),
        default_channel=settings.default_channel, dedup_window_seconds=settings.dedup_window_seconds,
        auto_close_seconds=settings.auto_close_seconds, flap_threshold=settings.flap_threshold,
        flap_window_seconds=settings.flap_window_seconds, flap_quiet_seconds=settings.flap_quiet_seconds,
        severity_bump=settings.severity_bump, escalation_policy_id=settings.escalation_policy_id)
    return ConfigChange(event, workspace_id, f"workspace:{workspace_id}")


# Options without which an integration of that provider is unsafe, and why.
REQUIRED_OPTIONS = {
    "cloudwatch": {"topic_arns": "the comma-separated SNS topic ARNs it accepts (any AWS account can sign an "
                                 "SNS message, so without the list a stranger's topic could deliver here)"},
}
# Options ingest reads as non-negative numbers (its abuse limits); it keeps its defaults for a bad
# value rather than refuse alerts, so a bad value is refused here.
NUMERIC_OPTIONS = ("rate_limit_per_second", "rate_limit_burst", "replay_window_seconds")
# Providers whose secret alone names the integration (PagerDuty's /v2/enqueue routes by routing_key).
SECRET_IDENTIFIES = {"pagerduty"}


def check_provider(provider: str) -> None:
    if provider not in SOURCES:
        raise UnknownProvider(f"unknown provider {provider!r}; one of {', '.join(SOURCES)}")


def check_integration(new: NewIntegration) -> None:
    """A known provider with every option it cannot do without."""
    check_provider(new.provider)
    for option, why in REQUIRED_OPTIONS.get(new.provider, {}).items():
        if not [item for item in new.options.get(option, "").split(",") if item.strip()]:
            raise InvalidIntegration(f"a {new.provider} integration needs the option {option}: {why}")
    for option in NUMERIC_OPTIONS:
        if option in new.options and not _non_negative_number(new.options[option]):
            raise InvalidIntegration(f"the option {option} must be a non-negative number, got {new.options[option]!r}")
    if (error := silence_options_error(new.options)) is not None:
        raise InvalidIntegration(error)


def _non_negative_number(text: str) -> bool:
    try:
        return math.isfinite(value := float(text)) and value >= 0
    except ValueError:
        return False


def secret_fingerprint(key: bytes, provider: str, secret: str) -> str | None:
    """A keyed hash of the secret, stored beside its ciphertext, for providers whose secret must be
    unique: equal secrets compare equal without decrypting any. None where uniqueness is not needed."""
    if provider not in SECRET_IDENTIFIES:
        return None
    return hmac.new(key, f"{provider}:{secret}".encode(), hashlib.sha256).hexdigest()


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
    """Raises InvalidRule (422) for a bad matcher, mention policy or quick-action URL."""
    validate_rule(rule.conditions, rule.mention, rule.quick_actions, rule.runbook_url)
    event = RoutingRuleSaved(
        rule_id=rule_id, workspace_id=rule.workspace_id, name=rule.name, position=rule.position,
        conditions=rule.conditions, channel=rule.channel, runbook_url=rule.runbook_url,
        escalate_after_minutes=minutes_covering(rule.escalate_after_seconds, rule.escalate_after_minutes)
        if rule.escalate_after_seconds or rule.escalate_after_minutes else None,
        escalate_after_seconds=rule.escalate_after_seconds, enabled=rule.enabled,
        escalation_policy_id=rule.escalation_policy_id, continue_matching=rule.continue_matching,
        mention=rule.mention, quick_actions=list(rule.quick_actions))
    return ConfigChange(event, rule.workspace_id, f"rule:{rule_id}")


def rule_deleted(rule_id: str, workspace_id: str) -> ConfigChange[RoutingRuleDeleted]:
    return ConfigChange(RoutingRuleDeleted(rule_id=rule_id, workspace_id=workspace_id), workspace_id, f"rule:{rule_id}")


def rules_in_order(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the router evaluates them: by position, then id."""
    return sorted(definitions, key=lambda d: (d["position"], d["rule_id"]))
