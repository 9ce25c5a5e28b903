"""PagerDuty Events API v2: routing_key auth, trigger / acknowledge / resolve, generated dedup keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_ingest.domain.errors import AuthenticationFailed, MalformedPayload, UnsupportedPayload
from signalcraft_ingest.domain.providers.pagerduty import PagerDutyProvider

from .helpers import RECEIVED_AT, FakeContext, make_integration, make_request

PROVIDER = PagerDutyProvider()
KEY = "R0UTINGKEY0000000000000000000000"
INTEGRATION = make_integration("pagerduty", KEY, default_project="payments", default_environment="production")


def event(action: str = "trigger", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": KEY, "event_action": action}
    if action == "trigger":
        body["payload"] = {"summary": "Checkout error rate 12%", "source": "checkout-1", "severity": "error"}
    return {**body, **extra}


async def test_routing_key_must_equal_the_secret() -> None:
    await PROVIDER.authenticate(make_request(event()), INTEGRATION, FakeContext())
    for body in ({**event(), "routing_key": "other"}, {"event_action": "trigger"}, {**event(), "routing_key": 5}):
        with pytest.raises(AuthenticationFailed):
            await PROVIDER.authenticate(make_request(body), INTEGRATION, FakeContext())
    with pytest.raises(MalformedPayload):
        await PROVIDER.authenticate(make_request(b"{not json"), INTEGRATION, FakeContext())


def test_trigger_with_dedup_key() -> None:
    parsed = PROVIDER.parse(make_request(event(dedup_key="checkout/errors", client_url="https://grafana/d/1")), INTEGRATION)
    [alert] = parsed.alerts
    assert (alert.fingerprint, alert.status, alert.severity) == ("checkout/errors", AlertStatus.FIRING, Severity.HIGH)
    assert (alert.project, alert.environment, alert.title) == ("payments", "prod", "Checkout error rate 12%")
    assert alert.link == "https://grafana/d/1"
    assert parsed.response_body == {"status": "success", "message": "Event processed", "dedup_key": "checkout/errors"}


def test_trigger_without_dedup_key_gets_a_deterministic_one() -> None:
    request = make_request(event())
    first = PROVIDER.parse(request, INTEGRATION)
    again = PROVIDER.parse(make_request(request.body), INTEGRATION)
    later = PROVIDER.parse(make_request(request.body, received_at=RECEIVED_AT.replace(second=1)), INTEGRATION)
    key = first.response_body["dedup_key"]
    assert len(key) == 32 and int(key, 16) >= 0
    assert first.alerts[0].fingerprint == key == again.response_body["dedup_key"]
    assert later.response_body["dedup_key"] != key


@pytest.mark.parametrize("action, status", [("acknowledge", AlertStatus.ACKNOWLEDGED), ("resolve", AlertStatus.RESOLVED)])
def test_acknowledge_and_resolve_land_in_the_trigger_group(action: str, status: AlertStatus) -> None:
    trigger = PROVIDER.parse(make_request(event(dedup_key="k1")), INTEGRATION).alerts[0]
    [alert] = PROVIDER.parse(make_request(event(action, dedup_key="k1")), INTEGRATION).alerts
    assert alert.status is status and alert.severity is Severity.INFO
    assert (alert.project, alert.environment, alert.fingerprint) == (trigger.project, trigger.environment, "k1")


@pytest.mark.parametrize("word, severity", [("critical", Severity.CRITICAL), ("error", Severity.HIGH),
                                            ("warning", Severity.MEDIUM), ("info", Severity.LOW)])
def test_severity_words(word: str, severity: Severity) -> None:
    body = event()
    body["payload"]["severity"] = word
    assert PROVIDER.parse(make_request(body), INTEGRATION).alerts[0].severity is severity


@pytest.mark.parametrize("body", [
    {"routing_key": KEY, "event_action": "resolve"},
    {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": ""},
    {"routing_key": KEY, "event_action": "snooze", "dedup_key": "k"},
    {"routing_key": KEY, "event_action": "trigger"},
    {"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x"}},
    {"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "high"}},
    {"routing_key": KEY, "event_action": "trigger", "payload": {"source": "x", "severity": "info"}},
    {"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "severity": "info"}},
])
def test_missing_or_invalid_fields_are_unsupported(body: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPayload):
        PROVIDER.parse(make_request(body), INTEGRATION)


def test_error_bodies_follow_pagerduty() -> None:
    assert PROVIDER.error_body(400, "JSON parse error") == {
        "status": "Unrecognized object", "message": "Event object is invalid", "errors": ["JSON parse error"]}
    assert PROVIDER.error_body(422, "x")["status"] == "Unrecognized object"
    assert PROVIDER.error_body(401, "routing_key does not match")["status"] == "Invalid routing key"
    assert PROVIDER.error_body(500, "boom") == {"status": "error", "message": "Event could not be processed",
                                                "errors": ["boom"]}


@pytest.mark.parametrize("action", ["trigger", "acknowledge", "resolve"])
def test_the_stored_body_has_the_routing_key_redacted_and_everything_else(action: str) -> None:
    """The routing key is the credential: the raw copy ingest keeps must not hand it out."""
    sent = event(action, dedup_key="checkout/errors", client="Grafana")
    parsed = PROVIDER.parse(make_request(sent), INTEGRATION)
    assert parsed.stored_body is not None and KEY.encode() not in parsed.stored_body
    assert json.loads(parsed.stored_body) == {**sent, "routing_key": "[redacted]"}
