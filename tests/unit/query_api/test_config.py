"""Configuration: what each admin command becomes on the compacted config topic."""

from __future__ import annotations

import pytest

from signalcraft_schemas import Severity
from signalcraft_schemas.alerts import SOURCES
from signalcraft_schemas.events import (
    IntegrationConfigured, RoutingConditions, RoutingRuleDeleted, RoutingRuleSaved, SlackConnected, WorkspaceConfigured,
)
from signalcraft_query_api.domain.config import (
    InvalidIntegration, NewIntegration, RuleDefinition, SlackCredentials, UnknownProvider, WorkspaceSettings,
    check_integration, check_provider, integration_configured, integration_receipt, rule_deleted, rule_saved,
    rules_in_order, secret_fingerprint, slack_connected, workspace_configured,
)


def test_a_workspace_is_configured_under_its_own_key():
    change = workspace_configured("acme", WorkspaceSettings(name="Acme", dedup_window_minutes=30,
                                                            auto_close_minutes=600, default_channel="#alerts"))
    assert change.event == WorkspaceConfigured(workspace_id="acme", name="Acme", dedup_window_minutes=30,
                                               auto_close_minutes=600, default_channel="#alerts")
    assert (change.workspace_id, change.key) == ("acme", "workspace:acme")


def test_only_known_providers_are_accepted_and_the_refusal_names_them():
    for provider in SOURCES:
        check_provider(provider)
    with pytest.raises(UnknownProvider) as refused:
        check_provider("nagios")
    assert "'nagios'" in str(refused.value) and all(p in str(refused.value) for p in SOURCES)


def test_an_integration_carries_only_its_encrypted_secret():
    new = NewIntegration(workspace_id="acme", provider="sentry", name="Sentry", options={"a": "b"}, secret="plain")
    change = integration_configured("sen-1", new, secret_encrypted="sealed")
    assert change.event == IntegrationConfigured(integration_id="sen-1", workspace_id="acme", provider="sentry",
                                                 name="Sentry", secret_encrypted="sealed", options={"a": "b"})
    assert (change.workspace_id, change.key) == ("acme", "integration:sen-1")


def test_the_receipt_shows_the_webhook_url_and_the_secret_once():
    event = integration_configured("sen-1", NewIntegration("acme", "sentry", "Sentry"), "sealed").event
    assert integration_receipt(event, "plain", "https://hooks.example.com/") == {
        "integration_id": "sen-1", "workspace_id": "acme", "provider": "sentry", "name": "Sentry",
        "webhook_url": "https://hooks.example.com/webhooks/sentry/sen-1", "secret": "plain"}


def test_a_pagerduty_receipt_also_shows_the_events_v2_url():
    event = integration_configured("pag-1", NewIntegration("acme", "pagerduty", "PD"), "sealed").event
    receipt = integration_receipt(event, "plain", "https://hooks.example.com")
    assert receipt["webhook_url"] == "https://hooks.example.com/webhooks/pagerduty/pag-1"
    assert receipt["events_v2_url"] == "https://hooks.example.com/v2/enqueue"


def test_slack_is_connected_with_encrypted_credentials_one_per_workspace():
    change = slack_connected(SlackCredentials("acme", "xoxb-plain", "signing-plain", team_id="T1"), "tok", "sig")
    assert change.event == SlackConnected(workspace_id="acme", bot_token_encrypted="tok",
                                          signing_secret_encrypted="sig", team_id="T1")
    assert change.key == "slack:acme"


def test_a_rule_is_saved_and_deleted_under_the_same_key():
    definition = RuleDefinition(workspace_id="acme", name="prod-high", channel="#oncall", position=5,
                                conditions=RoutingConditions(environments=["prod"], min_severity=Severity.HIGH),
                                runbook_url="https://runbooks.example.com/x", escalate_after_minutes=15)
    saved = rule_saved("rule-1", definition)
    assert saved.event == RoutingRuleSaved(
        rule_id="rule-1", workspace_id="acme", name="prod-high", position=5, channel="#oncall",
        conditions=RoutingConditions(environments=["prod"], min_severity=Severity.HIGH),
        runbook_url="https://runbooks.example.com/x", escalate_after_minutes=15, enabled=True)
    deleted = rule_deleted("rule-1", "acme")
    assert deleted.event == RoutingRuleDeleted(rule_id="rule-1", workspace_id="acme")
    assert saved.key == deleted.key == "rule:rule-1"


def test_rules_are_listed_in_the_order_the_router_evaluates_them():
    rules = [{"rule_id": "b", "position": 10}, {"rule_id": "c", "position": 1}, {"rule_id": "a", "position": 10}]
    assert [r["rule_id"] for r in rules_in_order(rules)] == ["c", "a", "b"]


def test_a_cloudwatch_integration_without_topic_arns_is_refused_with_the_reason():
    """Any AWS account can sign a valid SNS message: without an allow-list a stranger's topic delivers."""
    for options in ({}, {"topic_arns": ""}, {"topic_arns": " , "}):
        with pytest.raises(InvalidIntegration, match="topic_arns") as refused:
            check_integration(NewIntegration("acme", "cloudwatch", "CW", options=options))
        assert "any AWS account" in str(refused.value)
    check_integration(NewIntegration("acme", "cloudwatch", "CW", options={"topic_arns": "arn:aws:sns:eu-west-1:1:a"}))
    check_integration(NewIntegration("acme", "sentry", "Sentry"))
    with pytest.raises(UnknownProvider):
        check_integration(NewIntegration("acme", "nagios", "N"))


def test_a_pagerduty_secret_fingerprint_is_keyed_and_equal_only_for_equal_keys():
    key = b"k" * 32
    first = secret_fingerprint(key, "pagerduty", "routing-key-1")
    assert first == secret_fingerprint(key, "pagerduty", "routing-key-1")
    assert first != secret_fingerprint(key, "pagerduty", "routing-key-2")
    assert first != secret_fingerprint(b"other key" * 4, "pagerduty", "routing-key-1")  # not a plain hash
    assert first is not None and "routing-key-1" not in first
    # Secrets that name no integration by themselves need not be unique: no fingerprint is stored.
    assert secret_fingerprint(key, "sentry", "routing-key-1") is None


def test_rate_limit_and_replay_options_must_be_non_negative_numbers():
    good = {"rate_limit_per_second": "2.5", "rate_limit_burst": "20", "replay_window_seconds": "0"}
    check_integration(NewIntegration("acme", "sentry", "Sentry", options=good))
    for option in good:
        for bad in ("fast", "-1", "nan", ""):
            with pytest.raises(InvalidIntegration, match=option):
                check_integration(NewIntegration("acme", "sentry", "Sentry", options={option: bad}))
