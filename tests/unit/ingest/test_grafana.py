"""Grafana: HMAC (with and without timestamp), bearer/basic, test notifications, values."""

from __future__ import annotations

from typing import Any

import pytest

from signalcraft_schemas import AlertStatus
from signalcraft_ingest.domain.errors import AuthenticationFailed
from signalcraft_ingest.domain.providers.grafana import GrafanaProvider

from .helpers import RECEIVED_AT, FakeContext, basic, hex_hmac, make_integration, make_request

PROVIDER = GrafanaProvider()
NOW = int(RECEIVED_AT.timestamp())


def payload(labels: dict[str, str] | None = None, group_key: str = "{}:{}", **extra: Any) -> dict[str, Any]:
    return {
        "receiver": "signalcraft", "status": "firing", "version": "1", "groupKey": group_key, "orgId": 1,
        "externalURL": "https://grafana.example.com/",
        "alerts": [{"status": "firing", "labels": labels or {"alertname": "High memory", "service": "api"},
                    "annotations": {"summary": "Memory above 90%", "description": "node is swapping"},
                    "startsAt": "2024-05-01T11:58:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://grafana.example.com/alerting/grafana/abc/view", "fingerprint": "f00d",
                    "values": {"B": 93.5, "C": 1}, **extra}],
    }


async def test_hmac_over_body_without_timestamp() -> None:
    integration = make_integration("grafana", "hk", auth="hmac")
    request = make_request(payload())
    signed = make_request(request.body, {"X-Grafana-Alerting-Signature": hex_hmac("hk", request.body)})
    await PROVIDER.authenticate(signed, integration, FakeContext())
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(request.body, {"X-Grafana-Alerting-Signature": hex_hmac("no", request.body)}),
                                    integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="missing"):
        await PROVIDER.authenticate(request, integration, FakeContext())


async def test_hmac_with_timestamp_signs_ts_colon_body_within_skew() -> None:
    integration = make_integration("grafana", "hk", auth="hmac", hmac_header="X-Sig", timestamp_header="X-Ts",
                                   max_skew_seconds="60")
    body = make_request(payload()).body

    def sent(ts: int, signature_ts: int | None = None) -> Any:
        message = f"{signature_ts if signature_ts is not None else ts}:".encode() + body
        return make_request(body, {"X-Sig": hex_hmac("hk", message), "X-Ts": str(ts)})

    await PROVIDER.authenticate(sent(NOW - 30), integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="away from now"):
        await PROVIDER.authenticate(sent(NOW - 61), integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="does not match"):
        await PROVIDER.authenticate(sent(NOW, signature_ts=NOW - 1), integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="missing X-Ts"):
        await PROVIDER.authenticate(make_request(body, {"X-Sig": hex_hmac("hk", body)}), integration, FakeContext())
    with pytest.raises(AuthenticationFailed, match="Unix seconds"):
        await PROVIDER.authenticate(make_request(body, {"X-Sig": "00", "X-Ts": "²"}), integration, FakeContext())


async def test_bearer_is_the_default_and_basic_works() -> None:
    body = make_request(payload()).body
    await PROVIDER.authenticate(make_request(body, {"Authorization": "Bearer tok"}), make_integration("grafana", "tok"),
                                FakeContext())
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(body), make_integration("grafana", "tok"), FakeContext())
    await PROVIDER.authenticate(make_request(body, {"Authorization": basic("u:p")}),
                                make_integration("grafana", "u:p", auth="basic"), FakeContext())


def test_firing_alert_keeps_values_in_the_description() -> None:
    [alert] = PROVIDER.parse(make_request(payload()), make_integration("grafana")).alerts
    assert alert.description == "node is swapping\n\nValues: B=93.5, C=1"
    assert (alert.project, alert.fingerprint, alert.is_test) == ("api", "f00d", False)
    assert alert.link == "https://grafana.example.com/alerting/grafana/abc/view"


def test_value_string_is_preferred_over_values() -> None:
    [alert] = PROVIDER.parse(make_request(payload(valueString="[ var='B' value=93.5 ]")), make_integration("grafana")).alerts
    assert alert.description.endswith("Values: [ var='B' value=93.5 ]")


def test_resolved_alert_uses_ends_at() -> None:
    body = payload(status="resolved", endsAt="2024-05-01T11:59:00Z")
    body["status"] = "resolved"
    [alert] = PROVIDER.parse(make_request(body), make_integration("grafana")).alerts
    assert alert.status is AlertStatus.RESOLVED
    assert alert.occurred_at.isoformat() == "2024-05-01T11:59:00+00:00"


def test_default_test_notification_is_marked() -> None:
    test_labels = {"alertname": "TestAlert", "instance": "Grafana"}
    body = payload(test_labels, annotations={"summary": "Notification test"})
    [alert] = PROVIDER.parse(make_request(body), make_integration("grafana")).alerts
    assert alert.is_test


def test_custom_test_notification_is_recognised_by_its_group_key() -> None:
    body = payload({"alertname": "My custom test", "service": "api"}, group_key="webhook-1a2b3c4d5e6f7a8b-1714564798")
    [alert] = PROVIDER.parse(make_request(body), make_integration("grafana")).alerts
    assert alert.is_test


def test_a_rule_named_test_alert_is_not_a_test_notification() -> None:
    body = payload({"alertname": "Test alert", "test": "true"}, group_key='{}/{test="true"}:{}')
    [alert] = PROVIDER.parse(make_request(body), make_integration("grafana")).alerts
    assert not alert.is_test


def test_alerts_left_out_by_max_alerts_are_noted() -> None:
    parsed = PROVIDER.parse(make_request({**payload(), "truncatedAlerts": 2}), make_integration("grafana"))
    assert parsed.note == "2 alerts truncated by max_alerts"


def test_a_replay_is_recognised_by_what_was_signed() -> None:
    """Without a timestamp header nothing is fresh: the body names a replay. With one, the signed
    b"<ts>:" + body does, so a repeat sent later (a new timestamp) is not taken for a replay."""
    body = make_request(payload()).body
    plain = make_integration("grafana", "hk", auth="hmac")
    assert PROVIDER.parse(make_request(body), plain).replay_key == PROVIDER.parse(make_request(body), plain).replay_key
    bearer = make_integration("grafana", "hk")
    assert PROVIDER.parse(make_request(body), bearer).replay_key == PROVIDER.parse(make_request(body), plain).replay_key
    stamped = make_integration("grafana", "hk", auth="hmac", timestamp_header="X-Ts")
    at = [PROVIDER.parse(make_request(body, {"X-Ts": str(ts)}), stamped).replay_key for ts in (NOW, NOW, NOW + 60)]
    assert at[0] == at[1] != at[2]
