"""An integration's lifecycle decisions and a test webhook's trace (issue 11.3), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signalcraft_query_api.domain.integration_ops import (
    NoTestWebhook, StoredIntegration, integration_deleted, integration_state, integration_view, rotated,
    signed_test_webhook, trace_of_test_webhook, with_enabled,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
STORED = StoredIntegration(integration_id="gra-1", workspace_id="ws-1", provider="grafana", name="g",
                           secret_encrypted="sealed-1", enabled=True, options={"auth": "bearer"})


def test_a_rotation_keeps_the_old_secret_for_the_grace_period_then_drops_it() -> None:
    after = rotated(STORED, "sealed-2", NOW, timedelta(hours=24))
    assert (after.secret_encrypted, after.previous_secret_encrypted) == ("sealed-2", "sealed-1")
    event = integration_state(after, NOW).event
    assert event.previous_secret_encrypted == "sealed-1"
    assert event.previous_secret_valid_until == NOW + timedelta(hours=24)
    later = integration_state(after, NOW + timedelta(hours=24)).event
    assert later.previous_secret_encrypted is None and later.previous_secret_valid_until is None
    assert integration_view(after, NOW)["previous_secret_valid_until"] == NOW + timedelta(hours=24)
    assert "sealed" not in str(integration_view(after, NOW))


def test_a_rotation_without_grace_refuses_the_old_secret_at_once() -> None:
    after = rotated(STORED, "sealed-2", NOW, timedelta(0))
    assert after.previous_secret_encrypted is None
    assert integration_state(after, NOW).event.previous_secret_encrypted is None


def test_disabling_keeps_a_running_grace_period() -> None:
    disabled = with_enabled(rotated(STORED, "sealed-2", NOW, timedelta(hours=1)), False)
    change = integration_state(disabled, NOW)
    assert change.key == "integration:gra-1" and change.event.enabled is False
    assert change.event.previous_secret_encrypted == "sealed-1"


def test_a_deletion_is_a_tombstone_without_secrets() -> None:
    change = integration_deleted(rotated(STORED, "sealed-2", NOW, timedelta(hours=1)), NOW)
    assert change.key == "integration:gra-1"
    assert (change.event.deleted_at, change.event.enabled, change.event.secret_encrypted) == (NOW, False, "")
    assert change.event.previous_secret_encrypted is None


def test_only_providers_whose_test_notification_we_can_sign_are_tested_from_here() -> None:
    with pytest.raises(NoTestWebhook, match="sentry"):
        signed_test_webhook("sentry", "sen-1", "s", {}, NOW)


DELIVERED = {"url": "u", "status_code": 202, "delivery_id": "d-1", "error": None}


def test_the_trace_says_how_far_a_test_webhook_got() -> None:
    refused = trace_of_test_webhook({**DELIVERED, "status_code": 404, "error": "disabled"}, None, None, [])
    assert (refused["complete"], refused["failed"], refused["error"]) == (True, "ingest", "disabled")
    assert trace_of_test_webhook(DELIVERED, None, None, [])["reached"] == "ingest"
    alert = {"event_id": "a-1", "group_key": "k"}
    group = {"group_id": "g-1", "runbook_url": None}
    assert trace_of_test_webhook(DELIVERED, alert, None, [])["reached"] == "alert"
    assert trace_of_test_webhook(DELIVERED, alert, group, [])["reached"] == "group"
    requested = {"kind": "new_group", "channel": "#c", "status": "requested", "error": None, "attempts": 0}
    pending = trace_of_test_webhook(DELIVERED, alert, group, [requested])
    assert (pending["reached"], pending["complete"], pending["route"]["channel"]) == ("route", False, "#c")
    sent = trace_of_test_webhook(DELIVERED, alert, group, [{**requested, "status": "delivered", "attempts": 1}])
    assert (sent["reached"], sent["complete"], sent["failed"]) == ("slack", True, None)
    failed = trace_of_test_webhook(DELIVERED, alert, group, [{**requested, "status": "failed",
                                                               "error": "channel_not_found"}])
    assert (failed["complete"], failed["failed"], failed["error"]) == (True, "slack", "channel_not_found")
