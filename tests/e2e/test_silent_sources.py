"""A source gone silent raises an alert of its own (issue 11.2), on the real stack: an integration with
alert_when_silent=true, quiet for much longer than its usual gap, makes query-api emit one alert onto
alerts.normalized; grouping, router and notifier take it to Slack like any alert; when the integration
sends a webhook again, the alert is resolved and its message rewritten.

The option is switched on with PATCH /api/integrations/{id}. The silence is seeded into the read
models (webhooks in the past cannot be sent), as delivery health's own test does; the devstack checks
every 2 seconds (SIGNALCRAFT_SILENCE_CHECK_SECONDS)."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until

from .conftest import SEEDED_BY_SQL, Tenant, make_tenant
from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e

TITLE = "Sentry integration 'Backend' silent for 2h (usually every 10m)"


def seed_silence(tenant: Tenant, integration_id: str) -> None:
    """It sent a webhook every 10 minutes for an hour, three hours ago, then nothing for two hours."""
    SEEDED_BY_SQL.add(tenant.workspace_id)  # a rebuild by replay cannot bring these rows back
    now = datetime.now(UTC)
    with psycopg.connect(tenant.stack.database_url) as conn:
        for n in range(7):
            at = now - timedelta(hours=3) + timedelta(minutes=10 * n)
            conn.execute(
                "INSERT INTO query.alerts (event_id, workspace_id, integration_id, delivery_id, group_key, source, "
                "project, source_event_id, environment, severity, status, fingerprint, title, tags, occurred_at, "
                "received_at, is_test) VALUES (%s, %s, %s, %s, 'quiet-k', 'sentry', 'api', 'e', 'prod', 'high', "
                "'firing', 'fp', 'Disk full', '{}'::jsonb, %s, %s, false)",
                (uuid.uuid4(), tenant.workspace_id, integration_id, str(uuid.uuid4()), at, at))
        conn.execute("INSERT INTO query.integration_activity (integration_id, workspace_id, last_webhook_at, "
                     "alerts_total, throttled_total) VALUES (%s, %s, %s, 7, 0)",
                     (integration_id, tenant.workspace_id, now - timedelta(hours=2)))


def silence_messages(tenant: Tenant) -> list[dict[str, Any]]:
    return [m for m in tenant.slack_messages() if "integration 'Backend' silent for" in str(m)]


def silence_groups(tenant: Tenant) -> list[dict[str, Any]]:
    return [g for g in tenant.groups() if g["source"] == "signalcraft"]


def test_a_silent_source_alerts_once_through_slack_and_resolves_when_it_speaks_again(stack) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(stack)
    secret = f"sentry-quiet-{secrets.token_hex(4)}"
    quiet = tenant.admin.add_integration(tenant.workspace_id, "sentry", "Backend", secret=secret)["integration_id"]
    seed_silence(tenant, quiet)
    time.sleep(4)  # two checks: silent, but no alert asked for
    assert silence_messages(tenant) == []
    patched = httpx.patch(f"{stack.url('query-api')}/api/integrations/{quiet}", json={"alert_when_silent": True},
                          headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30)
    assert patched.status_code == 200 and patched.json()["options"] == {"alert_when_silent": "true"}

    message = wait_until(lambda: silence_messages(tenant), 60, what="the silence alert in Slack")[0]
    assert TITLE in str(message) and message["channel"].startswith(tenant.channel)  # the workspace's route
    group = wait_until(lambda: silence_groups(tenant), 30, what="the silence alert's group")[0]
    assert (group["status"], group["title"], group["severity"]) == ("open", TITLE, "medium")
    health = {i["integration_id"]: i for i in tenant.api("/api/delivery-health")["integrations"]}
    assert health[quiet]["silent"] is True and health[quiet]["usual_gap_seconds"] == 600.0  # its own gap, untouched

    time.sleep(8)  # four more checks: the same silence raises nothing more
    assert len(silence_messages(tenant)) == 1
    assert [g["count"] for g in silence_groups(tenant)] == [1]
    assert tenant.sql("SELECT count(*) FROM query.alerts WHERE workspace_id = %s AND source = 'signalcraft'",
                      tenant.workspace_id) == [(1,)]

    # It speaks again: a real webhook through ingest.
    url = f"{stack.url('ingest')}/webhooks/sentry/{quiet}"
    wait_until(lambda: httpx.post(url, content=b"{}").status_code != 404, 30, what="ingest knowing the integration")
    body = event_alert("9100001")
    assert httpx.post(url, content=body, headers=sentry_headers(body, secret), timeout=30).status_code == 202

    resolved = wait_until(lambda: [g for g in silence_groups(tenant) if g["status"] == "resolved"], 60,
                          what="the silence alert's group resolved")[0]
    assert resolved["group_id"] == group["group_id"] and resolved["resolved_by"] == "signalcraft"
    updated = wait_until(lambda: [m for m in silence_messages(tenant) if m["updates"] >= 1], 60,
                         what="the silence message rewritten")[0]
    assert updated["ts"] == message["ts"] and updated["text"].startswith("Resolved:")
    time.sleep(6)  # the integration spoke: no new silence, nothing raised again
    assert len(silence_messages(tenant)) == 1
    assert [g["status"] for g in silence_groups(tenant)] == ["resolved"]
    assert tenant.sql("SELECT status FROM query.alerts WHERE workspace_id = %s AND source = 'signalcraft' "
                      "ORDER BY received_at", tenant.workspace_id) == [("firing",), ("resolved",)]
