"""Sentry: both signature headers, the legacy ?token=, severity words, environment names."""

from __future__ import annotations

from typing import Any

import pytest

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_ingest.domain.errors import AuthenticationFailed
from signalcraft_ingest.domain.providers.sentry import SentryProvider

from .helpers import FakeContext, hex_hmac, make_integration, make_request

PROVIDER = SentryProvider()
INTEGRATION = make_integration("sentry", "client-secret")


def issue_webhook(level: str = "error", action: str = "created") -> dict[str, Any]:
    return {"action": action, "installation": {"uuid": "u-1"}, "actor": {"type": "application"},
            "data": {"issue": {"id": "42", "title": "ZeroDivisionError", "culprit": "app.views in divide",
                               "level": level, "project": {"slug": "backend"}, "lastSeen": "2024-05-01T11:00:00Z",
                               "web_url": "https://acme.sentry.io/issues/42/"}}}


def event_webhook(environment: str) -> dict[str, Any]:
    return {"action": "triggered", "data": {"triggered_rule": "Errors", "event": {
        "event_id": "e1", "level": "error", "title": "boom", "issue_id": "42",
        "url": "https://sentry.io/api/0/projects/acme/backend/events/e1/",
        "tags": [["environment", environment], ["release", "1.2.3"]]}}}


@pytest.mark.parametrize("header", ["Sentry-Hook-Signature", "Sentry-App-Signature"])
async def test_signature_in_either_header(header: str) -> None:
    request = make_request(issue_webhook())
    signed = make_request(request.body, {header: hex_hmac("client-secret", request.body)})
    await PROVIDER.authenticate(signed, INTEGRATION, FakeContext())


@pytest.mark.parametrize("headers", [{}, {"Sentry-Hook-Signature": "0" * 64}, {"Sentry-App-Signature": "not-hex"}])
async def test_missing_or_wrong_signature_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(issue_webhook(), headers), INTEGRATION, FakeContext())


async def test_signature_over_other_bytes_is_refused() -> None:
    body = make_request(issue_webhook()).body
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(body + b" ", {"Sentry-Hook-Signature": hex_hmac("client-secret", body)}),
                                    INTEGRATION, FakeContext())


async def test_legacy_plugin_authenticates_with_token_query() -> None:
    legacy = {"id": "42", "project_slug": "backend", "culprit": "x", "level": "error", "url": "https://sentry.io/i/42/"}
    await PROVIDER.authenticate(make_request(legacy, query={"token": "client-secret"}), INTEGRATION, FakeContext())
    with pytest.raises(AuthenticationFailed):
        await PROVIDER.authenticate(make_request(legacy, query={"token": "guess"}), INTEGRATION, FakeContext())


@pytest.mark.parametrize("level, severity", [("fatal", Severity.CRITICAL), ("error", Severity.HIGH),
                                             ("warning", Severity.MEDIUM), ("info", Severity.LOW),
                                             ("debug", Severity.INFO)])
def test_severity_mapping(level: str, severity: Severity) -> None:
    [alert] = PROVIDER.parse(make_request(issue_webhook(level)), INTEGRATION).alerts
    assert alert.severity is severity


@pytest.mark.parametrize("environment", ["prod", "production", "prd", "Production "])
def test_production_environment_names_normalize_to_prod(environment: str) -> None:
    [alert] = PROVIDER.parse(make_request(event_webhook(environment)), INTEGRATION).alerts
    assert alert.environment == "prod"
    assert (alert.project, alert.fingerprint) == ("backend", "issue:42")


def test_request_id_is_the_delivery_key_and_an_assignment_is_a_signal_about_the_group() -> None:
    """Issue 9: `assigned` no longer gives nothing; it names the group's assignee (no new occurrence)."""
    parsed = PROVIDER.parse(make_request(issue_webhook(action="assigned"), {"Request-ID": "abc"}), INTEGRATION)
    assert [a.status for a in parsed.alerts] == [AlertStatus.ASSIGNED] and parsed.delivery_key == "abc"


def test_a_body_sent_again_with_a_new_request_id_has_the_same_replay_key() -> None:
    """The signature covers only the body; the Request-ID is not signed, so the body names a replay."""
    body = make_request(issue_webhook()).body
    first = PROVIDER.parse(make_request(body, {"Request-ID": "r-1"}), INTEGRATION)
    replayed = PROVIDER.parse(make_request(body, {"Request-ID": "r-2"}), INTEGRATION)
    assert first.delivery_key != replayed.delivery_key
    assert first.replay_key == replayed.replay_key and first.replay_key is not None
    other = PROVIDER.parse(make_request(issue_webhook(action="resolved"), {"Request-ID": "r-1"}), INTEGRATION)
    assert other.replay_key != first.replay_key
    assert PROVIDER.parse(make_request(b"", {"Request-ID": "r-3"}), INTEGRATION).replay_key is not None
