"""The group lifecycle on the real broker and database (issue 9): commands from the API, a snooze that
expires while its group still fires, flapping folded into one message, replaced groups closed.

Durations are seconds long (issue 9.7) so each scenario runs in seconds."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from typer.testing import CliRunner

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import Stack
from signalcraft_query_api.cli import app

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e

ALERTMANAGER_FIXTURE = Path(__file__).resolve().parent.parent / "contract" / "fixtures" / "alertmanager"


def command(tenant: Tenant, group_id: str, action: str, wait: bool = True, **body: Any) -> httpx.Response:
    return httpx.post(f"{tenant.stack.url('query-api')}/api/alert-groups/{group_id}/{action}",
                      params={"wait": "true"} if wait else None, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})


def detail(tenant: Tenant, group_id: str) -> dict[str, Any]:
    return tenant.admin.get(f"/api/alert-groups/{group_id}")


def top_level(tenant: Tenant) -> list[dict[str, Any]]:
    return [m for m in tenant.slack_messages() if not m.get("thread_ts")]


def replies_to(tenant: Tenant, ts: str) -> list[dict[str, Any]]:
    return [m for m in tenant.slack_messages() if m.get("thread_ts") == ts]


async def fire(tenant: Tenant, issue_id: str, times: int = 1) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(times):
            assert (await send(client, tenant.webhook_url, tenant.secret, event_alert(issue_id))).status_code == 202


def one_group(tenant: Tenant, count: int = 1) -> dict[str, Any]:
    return wait_until(lambda: (g := tenant.groups()) and g[0]["count"] >= count and g[0], 30, what=f"a group of {count}")


def escalation_timer(tenant: Tenant, group_id: str) -> str | None:
    rows = tenant.sql("SELECT state FROM escalator.timers WHERE kind = 'escalation' AND group_id = %s", group_id)
    return rows[0][0] if rows else None


async def test_an_api_ack_acknowledges_cancels_the_escalation_and_the_timeline_says_who(stack: Stack) -> None:
    tenant = make_tenant(stack)
    tenant.admin.add_rule(tenant.workspace_id, "escalating", tenant.channel, escalate_after="60s")
    await fire(tenant, "5100001")
    group = one_group(tenant)
    gid = group["group_id"]
    [message] = wait_until(lambda: top_level(tenant), 30, what="the group's Slack message")
    wait_until(lambda: escalation_timer(tenant, gid) == "pending", 30, what="the escalation armed")

    acked = command(tenant, gid, "ack", by="alice")
    assert acked.status_code == 200, acked.text
    answer = acked.json()
    assert (answer["status"], answer["actor"], answer["group"]["status"], answer["group"]["acknowledged_by"]) == (
        "applied", "api:alice", "acknowledged", "api:alice")
    wait_until(lambda: escalation_timer(tenant, gid) == "cancelled", 30, what="the escalation cancelled")
    cancelled = wait_until(lambda: [e for e in detail(tenant, gid)["timeline"] if e["kind"] == "escalation_cancelled"],
                           30, what="the cancellation in the timeline")
    assert cancelled[0]["detail"]["by"] == "api:alice" and cancelled[0]["detail"]["reason"] == "acknowledged"
    assert any(e["kind"] == "acknowledged" and e["detail"]["by"] == "api:alice" for e in detail(tenant, gid)["timeline"])
    # The one message is rewritten with who acknowledged it.
    wait_until(lambda: "alice" in json.dumps([m for m in top_level(tenant) if m["ts"] == message["ts"]]), 30,
               what="the message names alice")

    again = command(tenant, gid, "ack", by="bob")
    assert again.status_code == 409 and again.json()["reason"] == "already_acknowledged"
    resolved = command(tenant, gid, "resolve", by="alice", reason="fixed")
    assert resolved.status_code == 200 and resolved.json()["group"]["resolved_by"] == "api:alice"
    late = command(tenant, gid, "ack", by="bob")
    assert late.status_code == 409 and late.json()["reason"] == "already_resolved"
    assert command(tenant, gid, "snooze", duration="soon").status_code == 422
    accepted = command(tenant, gid, "unack", wait=False)
    assert accepted.status_code == 202 and accepted.json()["command_id"]

    overview = tenant.api("/api/dashboard/overview")
    assert overview["ack_rate"] == 1.0 and overview["acknowledged_by"]["api"] == 1
    assert overview["mtta_seconds"] is not None and overview["mtta_seconds"] >= 0
    assert len(top_level(tenant)) == 1
    tenant.admin.close()


async def test_a_snooze_that_expires_while_firing_renotifies_once_and_a_quiet_one_not_at_all(stack: Stack) -> None:
    tenant = make_tenant(stack)
    await fire(tenant, "5200001")
    gid = one_group(tenant)["group_id"]
    [message] = wait_until(lambda: top_level(tenant), 30, what="the group's Slack message")

    snoozed = command(tenant, gid, "snooze", duration="3s", by="carol")
    assert snoozed.status_code == 200 and snoozed.json()["group"]["status"] == "snoozed", snoozed.text
    await fire(tenant, "5200001", times=2)  # counted silently
    one_group(tenant, count=3)

    def expired_notifications() -> list[dict[str, Any]]:
        return [n for n in detail(tenant, gid)["notifications"] if n["kind"] == "snooze_expired"]

    wait_until(lambda: tenant.groups()[0]["status"] == "open", 30, what="the snooze expired")
    wait_until(expired_notifications, 30, what="the snooze-expired re-notification")
    wait_until(lambda: replies_to(tenant, message["ts"]), 30, what="a thread reply about the expiry")
    unsnoozed = [e for e in detail(tenant, gid)["timeline"] if e["kind"] == "unsnoozed"]
    assert unsnoozed[0]["detail"]["reason"] == "expired" and unsnoozed[0]["detail"]["fired_during_snooze"] == 2

    quiet = command(tenant, gid, "snooze", duration="2s")
    assert quiet.status_code == 200
    wait_until(lambda: len([e for e in detail(tenant, gid)["timeline"] if e["kind"] == "unsnoozed"]) == 2, 30,
               what="the quiet snooze expired")
    await asyncio.sleep(1.5)  # a second re-notification would be on its way now; none may come
    assert len(expired_notifications()) == 1
    assert len(replies_to(tenant, message["ts"])) == 1
    assert len(top_level(tenant)) == 1
    tenant.admin.close()


def alertmanager_notification(alertname: str, status: str, starts_at: datetime) -> bytes:
    payload = json.loads((ALERTMANAGER_FIXTURE / "firing-two-alerts-oncall-example.json").read_text())
    payload["status"] = status
    alert = payload["alerts"][0]
    payload["alerts"] = [alert]
    alert["status"] = status
    alert["labels"]["alertname"] = alertname
    alert["startsAt"] = starts_at.isoformat().replace("+00:00", "Z")
    alert["endsAt"] = (starts_at + timedelta(seconds=1)).isoformat().replace("+00:00", "Z") if status == "resolved" \
        else "0001-01-01T00:00:00Z"
    alert.pop("fingerprint", None)  # the labels name the alert: the same alert every cycle
    return json.dumps(payload).encode()


def alertmanager_integration(tenant: Tenant) -> tuple[str, str]:
    secret = f"am-{tenant.workspace_id}"
    created = tenant.admin.add_integration(tenant.workspace_id, "alertmanager", "Alertmanager", secret=secret,
                                           options={"auth": "bearer", "default_project": "infra",
                                                    "default_environment": "prod"})
    url = f"{tenant.stack.url('ingest')}/webhooks/alertmanager/{created['integration_id']}"
    wait_until(lambda: httpx.post(url, content=b"{}").status_code != 404, 30, what="ingest knowing alertmanager")
    return url, secret


async def test_an_alert_that_fires_and_resolves_ten_times_keeps_one_top_level_message(stack: Stack) -> None:
    tenant = make_tenant(stack)
    url, secret = alertmanager_integration(tenant)
    start = datetime.now(UTC)
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {secret}"}) as client:
        for cycle in range(10):
            for status in ("firing", "resolved"):
                body = alertmanager_notification("DiskFlapping", status, start + timedelta(seconds=cycle))
                assert (await client.post(url, content=body)).status_code == 202

    def settled() -> dict[str, Any] | None:
        groups = tenant.groups()
        return groups[0] if len(groups) == 1 and groups[0]["reopen_count"] == 9 and \
            groups[0]["status"] == "resolved" else None

    group = wait_until(settled, 60, what="one group reopened nine times")
    assert group["count"] == 10 and group["flapping"] is True
    reopens = [e for e in detail(tenant, group["group_id"])["timeline"] if e["kind"] == "reopened"]
    # Events of one batch share their time, so the timeline may list them in either order.
    assert sorted(e["detail"]["flap_count"] for e in reopens) == list(range(1, 10))
    await asyncio.sleep(1.5)  # what the notifier still had to say has been said
    [message] = top_level(tenant)
    assert all("<!here>" not in m["text"] for m in replies_to(tenant, message["ts"])[3:])  # damped once flapping
    tenant.admin.close()


async def test_a_group_replaced_after_its_window_ends_closed(stack: Stack) -> None:
    tenant = make_tenant(stack, dedup_window="2s")
    await fire(tenant, "5300001")
    first = one_group(tenant)
    await asyncio.sleep(2.5)
    await fire(tenant, "5300001")

    def both() -> list[dict[str, Any]] | None:
        groups = tenant.groups()
        return groups if len(groups) == 2 and {g["status"] for g in groups} == {"open", "resolved"} else None

    groups = wait_until(both, 30, what="the old group closed and a new one open")
    old = next(g for g in groups if g["group_id"] == first["group_id"])
    assert old["status"] == "resolved" and old["resolved_at"] is not None
    resolved = [e for e in detail(tenant, old["group_id"])["timeline"] if e["kind"] == "resolved"]
    assert resolved[0]["detail"]["reason"] == "replaced"
    tenant.admin.close()


def test_the_cli_snoozes_with_a_duration_and_waits_for_the_outcome(stack: Stack) -> None:
    tenant = make_tenant(stack)
    asyncio.run(fire(tenant, "5400001"))
    gid = one_group(tenant)["group_id"]
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}
    result = CliRunner().invoke(app, ["group", "snooze", gid, "--for", "PT1H", "--by", "dave", "--wait"], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["group"]["status"] == "snoozed" and answer["actor"] == "api:dave"
    snoozed_until = datetime.fromisoformat(answer["group"]["snoozed_until"])
    assert timedelta(minutes=59) < snoozed_until - datetime.now(UTC) <= timedelta(hours=1)
    refused = CliRunner().invoke(app, ["group", "ack", gid, "--wait"], env=env)
    assert refused.exit_code == 0, refused.output  # an ack of a snoozed group applies (the snooze ends)
    again = CliRunner().invoke(app, ["group", "unsnooze", gid, "--wait"], env=env)
    assert again.exit_code == 1 and json.loads(again.output)["reason"] == "not_snoozed"
    tenant.admin.close()
