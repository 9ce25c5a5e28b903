"""The read API of issue 11 on the real stack: inbox filters and cursors (rows sharing a timestamp),
groups with totals and sorts, a group's full timeline with notes and assignee (commands through
grouping), the dashboard's numbers on a seeded scenario, delivery health (rejected webhooks, a
silent source, a revoked Slack token) and the SSE stream with resume.

The inbox, dashboard and silence cases seed the read models directly (times in the past cannot be
sent as webhooks); everything else goes through ingest, grouping, router, notifier and escalator."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_query_api.repository.projection import ALERT_ROWS, INSERT_ALERTS

from .conftest import SEEDED_BY_SQL, Tenant, make_tenant
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e


def execute(tenant: Tenant, statement: str, *params: Any) -> None:
    SEEDED_BY_SQL.add(tenant.workspace_id)  # a rebuild by replay cannot bring these rows back
    with psycopg.connect(tenant.stack.database_url) as conn:
        conn.execute(statement, params)


def seed_alert(tenant: Tenant, received_at: datetime, *, group_key: str = "k1", title: str = "Disk full",
               environment: str = "prod", project: str = "api", severity: str = "high", source: str = "sentry",
               status: str = "firing", tags: dict[str, str] | None = None, integration_id: str | None = None,
               delivery_id: str | None = None) -> uuid.UUID:
    event_id = uuid.uuid4()
    row = {"event_id": event_id, "workspace_id": tenant.workspace_id,
           "integration_id": integration_id or tenant.integration_id, "delivery_id": delivery_id or str(event_id),
           "group_key": group_key, "source": source, "source_event_id": "e", "project": project,
           "environment": environment, "severity": severity, "status": status, "fingerprint": "fp", "title": title,
           "link": None, "tags": tags or {}, "occurred_at": received_at, "received_at": received_at,
           "is_test": False}
    # The projection's own statement: the alert row and the dashboard's rollup of it (alert_hours, alert_keys).
    execute(tenant, INSERT_ALERTS, *ALERT_ROWS.arrays([row]))
    return event_id


def seed_group(tenant: Tenant, first_seen: datetime, *, group_key: str = "k1", last_seen: datetime | None = None,
               count: int = 1, severity: str = "high", status: str = "open", source: str = "sentry",
               assignee: str | None = None, rule_id: str | None = None, acked_at: datetime | None = None,
               acked_by: str | None = None, resolved_at: datetime | None = None,
               person_acted_at: datetime | None = None, title: str = "Disk full") -> uuid.UUID:
    group_id = uuid.uuid4()
    execute(
        tenant,        "INSERT INTO query.groups (group_id, workspace_id, group_key, source, project, environment, severity, status, "
        "title, description, count, first_seen_at, last_seen_at, tags, assignee, rule_id, acknowledged_at, acknowledged_by, "
        "resolved_at, person_acted_at, is_test) VALUES (%s, %s, %s, %s, 'api', 'prod', %s, %s, %s, '', %s, %s, %s, "
        "'{}'::jsonb, %s, %s, %s, %s, %s, %s, false)",
        group_id, tenant.workspace_id, group_key, source, severity, status, title, count, first_seen,
        last_seen or first_seen, assignee, rule_id, acked_at, acked_by, resolved_at, person_acted_at)
    return group_id


def pages(tenant: Tenant, path: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    found, cursor = [], None
    while True:
        answer = tenant.api(path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        found.append(answer["items"])
        cursor = answer["next_cursor"]
        if cursor is None:
            return found


def test_the_alerts_inbox_filters_and_its_cursor_skips_no_row_sharing_a_timestamp(tenant: Tenant) -> None:
    same = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    group_id = seed_group(tenant, same - timedelta(minutes=5), group_key="k1", count=25)
    ids = {seed_alert(tenant, same) for _ in range(25)}  # 25 alerts at one instant
    older = seed_alert(tenant, same - timedelta(minutes=1), title="Checkout latency high", environment="staging",
                       project="shop", severity="low", source="grafana", status="resolved", group_key="k2",
                       tags={"team": "payments", "region": "eu"})
    walked = pages(tenant, "/api/alerts", limit=7)
    flat = [a["event_id"] for page in walked for a in page]
    assert len(flat) == len(set(flat)) == 26 and {uuid.UUID(i) for i in flat} == ids | {older}
    assert [len(p) for p in walked] == [7, 7, 7, 5]
    assert all(a["group_id"] == str(group_id) for a in walked[0])  # each alert names its group
    # The old `before` paging loses the rows that share the page's last timestamp (the known defect).
    first = tenant.api("/api/alerts", limit=7)
    assert len(tenant.api("/api/alerts", limit=500, before=first["next_before"])["items"]) == 1

    def only(**params: Any) -> set[uuid.UUID]:
        return {uuid.UUID(a["event_id"]) for a in tenant.api("/api/alerts", limit=500, **params)["items"]}

    assert only(environment="staging") == only(project="shop") == only(severity="low") == {older}
    assert only(source="grafana") == only(status="resolved") == only(tag="team:payments") == {older}
    assert only(tag=["team:payments", "region:us"]) == set()
    assert only(q="LATENCY") == {older} and only(q="%") == set()  # case-insensitive; % is a character
    assert only(since=(same - timedelta(seconds=30)).isoformat()) == ids
    assert only(until=same.isoformat()) == {older}
    refused = httpx.get(f"{tenant.stack.url('query-api')}/api/alerts", timeout=10,
                        params={"workspace_id": tenant.workspace_id, "cursor": "not-a-cursor"},
                        headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})
    assert refused.status_code == 422


def test_the_groups_inbox_sorts_filters_and_counts_totals(tenant: Tenant) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    made = [seed_group(tenant, now, group_key=f"g{i}", count=i + 1, severity=["low", "high", "critical"][i % 3],
                       status=["open", "acknowledged", "resolved"][i % 3], assignee="ana" if i % 4 == 0 else None,
                       title=f"Queue {i} backed up") for i in range(12)]  # all last seen at one instant
    walked = pages(tenant, "/api/alert-groups", limit=5)
    assert sorted(g["group_id"] for p in walked for g in p) == sorted(str(g) for g in made)
    answer = tenant.api("/api/alert-groups", limit=5)
    assert answer["totals"] == {"total": 12, "by_status": {"open": 4, "acknowledged": 4, "resolved": 4},
                                "unassigned": 9}
    by_count = [g["count"] for p in pages(tenant, "/api/alert-groups", limit=5, sort="count") for g in p]
    assert by_count == list(range(12, 0, -1))
    by_severity = [g["severity"] for g in tenant.api("/api/alert-groups", limit=500, sort="severity")["items"]]
    assert by_severity == ["critical"] * 4 + ["high"] * 4 + ["low"] * 4
    # A full last page still hands out a cursor; the page after it is empty.
    assert [len(p) for p in pages(tenant, "/api/alert-groups", limit=3, sort="severity")] == [3, 3, 3, 3, 0]
    acked = tenant.api("/api/alert-groups", state="acknowledged", limit=500)
    assert {g["status"] for g in acked["items"]} == {"acknowledged"} and len(acked["items"]) == 4
    assert acked["totals"]["by_status"]["open"] == 4  # totals ignore the status filter: every tab at once
    assert {g["assignee"] for g in tenant.api("/api/alert-groups", assignee="ana")["items"]} == {"ana"}
    assert len(tenant.api("/api/alert-groups", unassigned="true", limit=500)["items"]) == 9
    assert [g["title"] for g in tenant.api("/api/alert-groups", q="queue 7")["items"]] == ["Queue 7 backed up"]


def command(tenant: Tenant, group_id: str, action: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{tenant.stack.url('query-api')}/api/alert-groups/{group_id}/{action}",
                      params={"wait": "true"}, json=body, timeout=30,
                      headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})


class StreamReader:
    """Reads GET /api/stream in a thread: (id, event, data) of each event, in order."""

    def __init__(self, tenant: Tenant, last_event_id: str | None = None) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.opened = threading.Event()
        self._stop = False
        headers = {"Authorization": f"Bearer {tenant.stack.admin_token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self._args = (f"{tenant.stack.url('query-api')}/api/stream", {"workspace_id": tenant.workspace_id}, headers)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.opened.wait(30), "the stream did not open"

    def _read(self) -> None:
        url, params, headers = self._args
        with httpx.stream("GET", url, params=params, headers=headers, timeout=httpx.Timeout(10, read=60)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                self.opened.set()
                if self._stop:
                    return
                if line == "" and "id" in fields:
                    self.events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                    fields = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

    def stop(self) -> None:
        self._stop = True


async def test_a_groups_page_shows_its_whole_history_notes_and_assignee_and_the_stream_tells(stack) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(stack)
    policy = httpx.post(f"{tenant.stack.url('query-api')}/api/escalation-policies", timeout=30, json={
        "workspace_id": tenant.workspace_id, "name": "fast", "levels": [{"after": "2s", "targets": ["<@UONCALL>"]}]},
        headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})
    assert policy.status_code in (200, 201), policy.text
    rule = tenant.admin.add_rule(tenant.workspace_id, "prod", f"{tenant.channel}-oncall", position=1,
                                 conditions={"environments": ["prod"]}, runbook_url="https://runbooks.example.com/db",
                                 escalation_policy_id=policy.json()["policy_id"])
    live = StreamReader(tenant)
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await send(client, tenant.webhook_url, tenant.secret, event_alert("7700001"))).status_code == 202
    group = wait_until(lambda: (g := tenant.groups()) and g[0], 60, what="the group")
    gid = group["group_id"]
    wait_until(lambda: any(e["step"] == "escalated" for e in tenant.admin.get(f"/api/alert-groups/{gid}")["timeline"]),
               60, what=f"the escalation; timeline: {tenant.admin.get(f'/api/alert-groups/{gid}')['timeline']}")
    assert command(tenant, gid, "assign", assignee="ana@example.com", by="lead").status_code == 200
    assert command(tenant, gid, "assign", assignee="ana@example.com").status_code == 409  # already_assigned
    assert command(tenant, gid, "notes", text="  rolled back deploy 42  ", by="ana").status_code == 200
    assert command(tenant, gid, "notes", text="   ").status_code == 422
    assert command(tenant, gid, "ack", by="ana").status_code == 200
    assert command(tenant, gid, "snooze", duration="1h", by="ana").status_code == 200
    assert command(tenant, gid, "resolve", by="ana").status_code == 200
    async with httpx.AsyncClient(timeout=30) as client:  # it fires again: the same group reopens
        assert (await send(client, tenant.webhook_url, tenant.secret, event_alert("7700001"))).status_code == 202
    wait_until(lambda: tenant.admin.get(f"/api/alert-groups/{gid}")["group"]["status"] == "open", 60, what="reopen")
    detail = wait_until(lambda: (d := tenant.admin.get(f"/api/alert-groups/{gid}"))
                        and sum(e["step"] == "notified" for e in d["timeline"]) >= 1 and d, 60, what="notified")
    steps: dict[str, dict[str, Any]] = {}
    for entry in detail["timeline"]:  # the first of each step
        steps.setdefault(entry["step"], entry)
    for step in ("received", "grouped", "routed", "notified", "acked", "snoozed", "escalated", "resolved",
                 "reopened", "assigned", "note"):
        assert step in steps, f"no {step} in {[e['step'] for e in detail['timeline']]}"
        assert steps[step]["actor"] and steps[step]["at"]
    assert steps["received"]["actor"] == f"sentry:{tenant.integration_id}"
    assert steps["acked"]["actor"] == steps["snoozed"]["actor"] == "api:ana"
    assert steps["assigned"]["actor"] == "api:lead" and steps["routed"]["actor"] == "router"
    assert [e["at"] for e in detail["timeline"]] == sorted(e["at"] for e in detail["timeline"])
    assert [(n["text"], n["by"]) for n in detail["notes"]] == [("rolled back deploy 42", "api:ana")]
    assert detail["assignee"] == "ana@example.com" and detail["runbook_url"] == "https://runbooks.example.com/db"
    assert detail["group"]["rule_id"] == rule["rule_id"]
    assert {a["group_id"] for a in detail["alerts"]} == {gid} and len(detail["alerts"]) == 2
    assert [a["label"] for a in detail["quick_actions"]][:3] == ["ack", "snooze", "resolve"]
    assert "Runbook" in [a["label"] for a in detail["quick_actions"]]

    # The stream told every change, numbered; reconnecting after the third resumes exactly there.
    kinds = {"group.opened", "group.assigned", "group.note_added", "group.acknowledged", "group.snoozed",
             "group.resolved", "group.reopened"}
    wait_until(lambda: kinds <= {e[1] for e in live.events}, 60, what="every change on the stream")
    live.stop()
    ids = [int(e[0]) for e in live.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e[2]["group_id"] == gid for e in live.events)
    resumed = StreamReader(tenant, last_event_id=str(ids[2]))
    wait_until(lambda: len(resumed.events) >= len(ids) - 3, 30, what="the resumed stream")
    resumed.stop()
    assert [int(e[0]) for e in resumed.events][:len(ids) - 3] == ids[3:]


def test_the_dashboard_counts_a_seeded_day(tenant: Tenant) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    at = hour + timedelta(minutes=10)
    # sentry: 3 groups (8 alerts): a person acked one after 60 s (resolved it after 600 s), one resolved
    # itself after 300 s, nobody touched one. grafana via rule r-db: 1 group, 2 alerts, snoozed by a person.
    seed_group(tenant, at, group_key="s1", status="resolved", acked_at=at + timedelta(seconds=60),
               acked_by="slack:T1/U1", resolved_at=at + timedelta(seconds=600), person_acted_at=at + timedelta(seconds=60))
    seed_group(tenant, at, group_key="s2", status="resolved", resolved_at=at + timedelta(seconds=300))
    seed_group(tenant, at + timedelta(hours=1), group_key="s3")
    seed_group(tenant, at + timedelta(hours=1), group_key="g1", source="grafana", status="snoozed", rule_id="r-db",
               person_acted_at=at + timedelta(hours=1, minutes=2))
    for key, n, offset in (("s1", 4, 0), ("s2", 2, 0), ("s3", 2, 1)):
        for _ in range(n):
            seed_alert(tenant, at + timedelta(hours=offset), group_key=key)
    for _ in range(2):
        seed_alert(tenant, at + timedelta(hours=1), group_key="g1", source="grafana")
    day = tenant.api("/api/dashboard/overview", hours=24)
    assert (day["alerts"], day["groups"], day["dedup_ratio"], day["ack_rate"]) == (10, 4, 0.6, 0.25)
    assert (day["mtta_seconds"], day["mttr_seconds"], day["resolved"]) == (60.0, 450.0, 2)
    assert len(day["series"]) in (24, 25)
    points = {p["at"]: (p["alerts"], p["groups"]) for p in day["series"]}
    assert points[hour.isoformat().replace("+00:00", "Z")] == (6, 2)
    assert points[(hour + timedelta(hours=1)).isoformat().replace("+00:00", "Z")] == (4, 2)
    by_source = {a["key"]: a for a in day["actionability_by_source"]}
    assert (by_source["sentry"]["acted"], by_source["sentry"]["self_resolved"], by_source["sentry"]["untouched"],
            by_source["sentry"]["score"]) == (1, 1, 1, 0.3333)
    assert by_source["grafana"]["score"] == 1.0
    assert {a["key"]: a["score"] for a in day["actionability_by_rule"]} == {"default": 0.3333, "r-db": 1.0}
    assert day["actionability_by_source"][0]["key"] == "sentry"  # least actionable first
    week = tenant.api("/api/dashboard/overview", hours=168)
    assert len(week["series"]) in (168, 169) and week["alerts"] == 10


def test_delivery_health_counts_rejected_webhooks_flags_a_silent_source_and_a_revoked_slack_token(stack) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(stack)
    body = event_alert("7800001")
    for _ in range(3):  # signed with the wrong secret: 401
        response = httpx.post(tenant.webhook_url, content=body, timeout=10,
                              headers=sentry_headers(body, "not-the-secret"))
        assert response.status_code == 401
    assert httpx.post(tenant.webhook_url, content=b"{not json", timeout=10,
                      headers=sentry_headers(b"{not json", tenant.secret)).status_code == 400

    def rejected() -> dict[str, int] | None:
        mine = [i for i in tenant.api("/api/delivery-health")["integrations"]
                if i["integration_id"] == tenant.integration_id]
        return mine[0]["rejected"] if mine and mine[0]["rejected_total"] == 5 else None

    # make_tenant's probe (an unsigned webhook, answered 401 once ingest knows the integration) is the 4th 401.
    assert wait_until(rejected, 60, what="5 rejected webhooks in delivery health") == {"400": 1, "401": 4}

    # A second integration spoke every 10 minutes for an hour, then not for two hours: silent.
    quiet = tenant.admin.add_integration(tenant.workspace_id, "grafana", "Grafana")["integration_id"]
    now = datetime.now(UTC)
    for n in range(7):
        seed_alert(tenant, now - timedelta(hours=3) + timedelta(minutes=10 * n), integration_id=quiet)
    execute(tenant, "INSERT INTO query.integration_activity (integration_id, workspace_id, last_webhook_at, alerts_total, "
               "throttled_total) VALUES (%s, %s, %s, 7, 0)", quiet, tenant.workspace_id, now - timedelta(hours=2))
    health = {i["integration_id"]: i for i in tenant.api("/api/delivery-health")["integrations"]}
    assert health[quiet]["silent"] is True and health[quiet]["usual_gap_seconds"] == 600.0
    assert health[tenant.integration_id]["silent"] is False

    # Slack: a token saved is checked with auth.test within seconds; revoked, a check shows it.
    token = f"xoxb-health-{uuid.uuid4().hex[:8]}"
    tenant.admin.connect_slack(tenant.workspace_id, token, "test-signing-secret")
    slack = wait_until(lambda: (s := tenant.api("/api/delivery-health")["slack"])["token_status"] == "valid" and s,
                       60, what="the new token checked")
    assert slack["connected"] is True
    fake = stack.slack_url
    httpx.post(f"{fake}/_fake/configure", json={"tokens": ["xoxb-test-token"]}, timeout=10).raise_for_status()
    try:
        checked = httpx.post(f"{tenant.stack.url('query-api')}/api/delivery-health/slack-check", timeout=30,
                             params={"workspace_id": tenant.workspace_id},
                             headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})
        assert checked.status_code == 200 and checked.json()["token_status"] == "invalid_auth"
        assert tenant.api("/api/delivery-health")["slack"]["token_status"] == "invalid_auth"
    finally:
        httpx.post(f"{fake}/_fake/configure", json={"tokens": []}, timeout=10).raise_for_status()


def test_cors_lets_the_configured_frontend_origin_through_and_no_other(tenant: Tenant) -> None:
    """The devstack allows the local frontend's dev server (SIGNALCRAFT_CORS_ORIGINS)."""
    url = f"{tenant.stack.url('query-api')}/api/alerts"
    preflight = httpx.options(url, timeout=10, headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization, Last-Event-ID"})
    assert preflight.status_code == 200
    assert preflight.headers.get("access-control-allow-origin") == "http://localhost:5173"
    stranger = httpx.options(url, timeout=10, headers={"Origin": "https://evil.example.com",
                                                       "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in stranger.headers
