"""Datadog: header / basic auth, the default template, custom mappings, transitions, %%% stripping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_ingest.domain.errors import AuthenticationFailed, UnsupportedPayload
from signalcraft_ingest.domain.providers.datadog import DatadogProvider

from .helpers import FakeContext, basic, make_integration, make_request

PROVIDER = DatadogProvider()
BODY = ("%%%\nDisk almost full on db-1\n\n[[Monitor Status](https://app.datadoghq.com/monitors/4242?group=host%3Adb-1)]"
        " · [[Edit Monitor](https://app.datadoghq.com/monitors/4242/edit)]\n%%%")


def default_payload(title: str = "[Triggered on {host:db-1}] Disk almost full", **extra: Any) -> dict[str, Any]:
    """Datadog's default template, rendered."""
    return {"body": BODY, "last_updated": "1714564700000", "event_type": "query_alert_monitor", "title": title,
            "date": "1714564700000", "org": {"id": "1", "name": "Acme"}, "id": "7000000000000000001", **extra}


async def test_token_header_must_match() -> None:
    integration = make_integration("datadog", "tok")
    await PROVIDER.authenticate(make_request(default_payload(), {"X-SignalCraft-Token": "tok"}), integration, FakeContext())
    for headers in ({}, {"X-SignalCraft-Token": "nope"}, {"Authorization": "Bearer tok"}):
        with pytest.raises(AuthenticationFailed):
            await PROVIDER.authenticate(make_request(default_payload(), headers), integration, FakeContext())


async def test_custom_header_name_and_basic_auth() -> None:
    custom = make_integration("datadog", "tok", header="X-Webhook-Key")
    await PROVIDER.authenticate(make_request(default_payload(), {"x-webhook-key": "tok"}), custom, FakeContext())
    basic_auth = make_integration("datadog", "dd:pw", auth="basic")
    await PROVIDER.authenticate(make_request(default_payload(), {"Authorization": basic("dd:pw")}), basic_auth,
                                FakeContext())
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(default_payload(), {"Authorization": basic("dd:no")}), basic_auth,
                                    FakeContext())


def test_default_template_reads_status_scope_and_monitor_from_title_and_body() -> None:
    [alert] = PROVIDER.parse(make_request(default_payload()), make_integration("datadog", default_project="db")).alerts
    assert (alert.status, alert.severity) == (AlertStatus.FIRING, Severity.HIGH)
    assert alert.fingerprint == "monitor:4242:host:db-1"
    assert alert.description.startswith("Disk almost full on db-1") and "%%%" not in alert.description
    assert alert.link == "https://app.datadoghq.com/monitors/4242?group=host%3Adb-1"
    assert alert.occurred_at.isoformat() == "2024-05-01T11:58:20+00:00"
    assert (alert.source_event_id, alert.project) == ("7000000000000000001", "db")


@pytest.mark.parametrize("title, status, severity", [
    ("[Triggered] Disk almost full", AlertStatus.FIRING, Severity.HIGH),
    ("[Re-Triggered on {host:db-1}] Disk almost full", AlertStatus.FIRING, Severity.HIGH),
    ("[Warn on {host:db-1}] Disk almost full", AlertStatus.FIRING, Severity.MEDIUM),
    ("[No Data on {host:db-1}] Disk almost full", AlertStatus.FIRING, Severity.LOW),
    ("[Recovered on {host:db-1}] Disk almost full", AlertStatus.RESOLVED, Severity.INFO),
    ("[P1] [Triggered on {host:db-1}] Disk almost full", AlertStatus.FIRING, Severity.CRITICAL),
])
def test_transition_words(title: str, status: AlertStatus, severity: Severity) -> None:
    [alert] = PROVIDER.parse(make_request(default_payload(title)), make_integration("datadog")).alerts
    assert (alert.status, alert.severity) == (status, severity)


def test_recovery_groups_with_its_trigger() -> None:
    integration = make_integration("datadog")
    triggered = PROVIDER.parse(make_request(default_payload("[Triggered on {host:db-1}] Disk")), integration).alerts[0]
    recovered = PROVIDER.parse(make_request(default_payload("[Recovered on {host:db-1}] Disk")), integration).alerts[0]
    assert triggered.fingerprint == recovered.fingerprint


def test_custom_mapping_with_dotted_paths_and_joined_fingerprint() -> None:
    mapping = {"title": "alert.title", "description": "alert.text", "status": "alert.transition",
               "severity": "alert.type", "fingerprint": ["alert.id", "alert.scope"], "project": "meta.service",
               "environment": "meta.env", "tags": "alert.tags", "link": "alert.url", "occurred_at": "alert.when",
               "source_event_id": "alert.event_id"}
    body = {"alert": {"title": "Checkout latency", "text": "%%%\np99 > 2s\n%%%", "transition": "Recovered",
                      "type": "success", "id": 99, "scope": "env:prod,service:checkout",
                      "tags": "env:prod,service:checkout,team:payments", "url": "https://app.datadoghq.com/monitors/99",
                      "when": "2024-05-01T11:00:00Z", "event_id": "ev-1"},
            "meta": {"service": "checkout", "env": "production"}}
    [alert] = PROVIDER.parse(make_request(body), make_integration("datadog", mapping=json.dumps(mapping))).alerts
    assert (alert.title, alert.description, alert.status, alert.severity) == (
        "Checkout latency", "p99 > 2s", AlertStatus.RESOLVED, Severity.INFO)
    assert alert.fingerprint == "99:env:prod,service:checkout"
    assert (alert.project, alert.environment, alert.source_event_id) == ("checkout", "prod", "ev-1")
    assert alert.tags["team"] == "payments" and alert.link == "https://app.datadoghq.com/monitors/99"


def test_service_and_env_tags_fill_project_and_environment() -> None:
    mapping = json.dumps({"tags": "tags"})
    body = default_payload(tags="env:staging,service:search")
    [alert] = PROVIDER.parse(make_request(body), make_integration("datadog", mapping=mapping)).alerts
    assert (alert.project, alert.environment) == ("search", "staging")


def test_test_notification_is_marked() -> None:
    body = default_payload("[Triggered on {host:db-1}] [TEST] Disk almost full")
    assert PROVIDER.parse(make_request(body), make_integration("datadog")).alerts[0].is_test


@pytest.mark.parametrize("mapping", ["{", "[]", '{"colour": "x"}', '{"title": 3}', '{"title": []}'])
def test_invalid_mapping_option_is_refused(mapping: str) -> None:
    with pytest.raises(UnsupportedPayload, match="mapping"):
        PROVIDER.parse(make_request(default_payload()), make_integration("datadog", mapping=mapping))


def test_unrendered_template_and_missing_title_are_refused() -> None:
    with pytest.raises(UnsupportedPayload, match="unrendered"):
        PROVIDER.parse(make_request(default_payload("$EVENT_TITLE")), make_integration("datadog"))
    with pytest.raises(UnsupportedPayload, match="no title"):
        PROVIDER.parse(make_request({"body": "x"}), make_integration("datadog"))
