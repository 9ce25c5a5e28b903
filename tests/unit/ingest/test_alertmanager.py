"""Alertmanager: Authorization-header auth, per-alert status, fingerprints, Go zero times."""

from __future__ import annotations

from typing import Any

import pytest

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_ingest.domain.errors import AuthenticationFailed, UnsupportedPayload
from signalcraft_ingest.domain.providers.alertmanager import AlertmanagerProvider

from .helpers import RECEIVED_AT, FakeContext, basic, make_integration, make_request

PROVIDER = AlertmanagerProvider()


def alert(status: str = "firing", labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"status": status, "labels": labels or {"alertname": "HighLatency", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "p99 latency above 2s"}, "startsAt": "2024-05-01T11:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph?g0.expr=x", **extra}


def payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "signalcraft", "groupKey": "{}:{}",
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


async def test_bearer_token_is_accepted() -> None:
    integration = make_integration("alertmanager", "tok")
    await PROVIDER.authenticate(make_request(payload(), {"Authorization": "Bearer tok"}), integration, FakeContext())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "tok"},
                                     {"Authorization": "Basic dG9rOg=="}, {"Authorization": "Bearer "}])
async def test_wrong_or_missing_bearer_token_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(payload(), headers), make_integration("alertmanager", "tok"),
                                    FakeContext())


async def test_basic_auth_compares_user_and_password() -> None:
    integration = make_integration("alertmanager", "alertmanager:pa:ss", auth="basic")
    await PROVIDER.authenticate(make_request(payload(), {"Authorization": basic("alertmanager:pa:ss")}), integration,
                                FakeContext())
    for wrong in (basic("alertmanager:nope"), "Basic not-base64!", "Bearer alertmanager:pa:ss"):
        with pytest.raises(AuthenticationFailed):
            await PROVIDER.authenticate(make_request(payload(), {"Authorization": wrong}), integration, FakeContext())


async def test_auth_none_accepts_without_credentials_and_unknown_mode_is_refused() -> None:
    await PROVIDER.authenticate(make_request(payload()), make_integration("alertmanager", auth="none"), FakeContext())
    with pytest.raises(AuthenticationFailed, match="auth="):
        await PROVIDER.authenticate(make_request(payload(), {"Authorization": "Bearer s3cret"}),
                                    make_integration("alertmanager", auth="hmac"), FakeContext())


def test_one_alert_per_entry_with_fields_from_labels_and_annotations() -> None:
    parsed = PROVIDER.parse(make_request(payload(alert(fingerprint="abc123"), alert(fingerprint="def456"))),
                            make_integration("alertmanager"))
    assert [a.fingerprint for a in parsed.alerts] == ["abc123", "def456"]
    first = parsed.alerts[0]
    assert (first.project, first.severity, first.title) == ("checkout", Severity.CRITICAL, "p99 latency above 2s")
    assert first.link == "http://prometheus:9090/graph?g0.expr=x"
    assert first.source_event_id == "abc123:2024-05-01T11:00:00Z:firing"
    assert parsed.delivery_key is None


def test_fingerprint_fallback_is_stable_across_label_order() -> None:
    labels = {"alertname": "DiskFull", "instance": "db-1", "severity": "warning"}
    reordered = dict(reversed(list(labels.items())))
    integration = make_integration("alertmanager")
    one = PROVIDER.parse(make_request(payload(alert(labels=labels))), integration).alerts[0]
    two = PROVIDER.parse(make_request(payload(alert(labels=reordered))), integration).alerts[0]
    other = PROVIDER.parse(make_request(payload(alert(labels={**labels, "instance": "db-2"}))), integration).alerts[0]
    assert one.fingerprint == two.fingerprint != other.fingerprint
    assert len(one.fingerprint) == 64


def test_resolved_alert_in_a_firing_group_resolves_only_itself() -> None:
    parsed = PROVIDER.parse(make_request(payload(
        alert("firing", fingerprint="still-firing"),
        alert("resolved", fingerprint="recovered", endsAt="2024-05-01T11:30:00Z"),
        status="firing")), make_integration("alertmanager"))
    statuses = {a.fingerprint: a.status for a in parsed.alerts}
    assert statuses == {"still-firing": AlertStatus.FIRING, "recovered": AlertStatus.RESOLVED}
    resolved = next(a for a in parsed.alerts if a.fingerprint == "recovered")
    assert resolved.occurred_at.isoformat() == "2024-05-01T11:30:00+00:00"


def test_go_zero_ends_at_is_tolerated() -> None:
    integration = make_integration("alertmanager")
    firing = PROVIDER.parse(make_request(payload(alert("firing"))), integration).alerts[0]
    assert firing.occurred_at.isoformat() == "2024-05-01T11:00:00+00:00"
    resolved = PROVIDER.parse(make_request(payload(alert("resolved"), status="resolved")), integration).alerts[0]
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.occurred_at == RECEIVED_AT  # endsAt unknown: resolved when we heard of it


def test_project_and_environment_follow_label_order_then_options() -> None:
    integration = make_integration("alertmanager", default_project="fallback", default_environment="staging")
    by_job = PROVIDER.parse(make_request(payload(alert(labels={"alertname": "A", "job": "api", "namespace": "ns",
                                                               "env": "production"}))), integration).alerts[0]
    assert (by_job.project, by_job.environment) == ("api", "prod")
    bare = PROVIDER.parse(make_request(payload(alert(labels={"alertname": "A"}))), integration).alerts[0]
    assert (bare.project, bare.environment, bare.title) == ("fallback", "staging", "p99 latency above 2s")
    custom = make_integration("alertmanager", project_labels="team")
    assert PROVIDER.parse(make_request(payload(alert(labels={"team": "payments", "service": "x"}))),
                          custom).alerts[0].project == "payments"


def test_title_falls_back_to_alertname_and_link_to_external_url() -> None:
    bare = {"status": "firing", "labels": {"alertname": "NodeDown"}, "startsAt": "2024-05-01T11:00:00Z"}
    parsed = PROVIDER.parse(make_request(payload(bare)), make_integration("alertmanager")).alerts[0]
    assert (parsed.title, parsed.link, parsed.severity) == ("NodeDown", "http://alertmanager:9093", Severity.MEDIUM)


@pytest.mark.parametrize("body", [{"version": "3", "alerts": []}, {"alerts": "nope"}, {"alerts": [1]},
                                  {"alerts": [{"status": "pending", "labels": {}}]}])
def test_unsupported_shapes_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedPayload):
        PROVIDER.parse(make_request(body), make_integration("alertmanager"))


def test_truncated_alerts_are_noted() -> None:
    parsed = PROVIDER.parse(make_request({**payload(alert()), "truncatedAlerts": 3}), make_integration("alertmanager"))
    assert parsed.note == "3 alerts truncated by max_alerts"


@pytest.mark.parametrize(("truncated", "note"), [(3, "3 alerts truncated by max_alerts"), (0, None), ("3", None)])
def test_alerts_left_out_by_max_alerts_are_noted(truncated: Any, note: str | None) -> None:
    parsed = PROVIDER.parse(make_request({**payload(alert()), "truncatedAlerts": truncated}), make_integration("alertmanager"))
    assert parsed.note == note
