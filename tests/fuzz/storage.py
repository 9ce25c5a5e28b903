"""What the fuzz run left in the database, against what was answered.

Rejected requests store nothing: every delivery ingest stored since the run began belongs to a 2xx
answer (one each, none for a duplicate), and every configuration row written belongs to a 2xx answer
of the config API. Accepted alerts do not poison the pipeline: each reaches the read model, none is
dead-lettered, and every page of the API that shows them answers 200.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from .runner import FuzzReport
from .world import FuzzWorld

PIPELINE_WAIT_S = 180.0


def database_now(world: FuzzWorld) -> datetime:
    return world.sql("SELECT clock_timestamp()")[0][0]


def storage_problems(world: FuzzWorld, report: FuzzReport, since: datetime) -> list[str]:
    problems: list[str] = []
    stored = world.sql("SELECT delivery_id::text, workspace_id FROM ingest.deliveries "
                       "WHERE received_at >= %s AND provider <> 'slack'", since)
    accepted = report.stored_webhooks()
    if len(stored) != len(accepted):
        problems.append(f"ingest stored {len(stored)} deliveries for {len(accepted)} accepted webhooks")
    strangers = sorted({workspace for _, workspace in stored if workspace != world.workspace_id})
    if strangers:
        problems.append(f"deliveries stored for workspaces no webhook was accepted for: {strangers[:5]}")
    answered = {(o.json() or {}).get("delivery_id") for o in accepted} - {None}
    missing = answered - {delivery_id for delivery_id, _ in stored}
    if missing:
        problems.append(f"{len(missing)} accepted deliveries not stored, e.g. {sorted(missing)[:3]}")
    clicks = world.sql("SELECT count(*) FROM ingest.deliveries WHERE received_at >= %s AND provider = 'slack'",
                       since)[0][0]
    if clicks > report.slack_clicks_taken():
        problems.append(f"{clicks} Slack clicks stored for {report.slack_clicks_taken()} taken")
    problems += _config_problems(world, report, since)
    return problems


def _config_problems(world: FuzzWorld, report: FuzzReport, since: datetime) -> list[str]:
    accepted: set[str] = set()
    for answer in report.accepted_api_writes():
        if isinstance(answer, dict):
            accepted |= {str(answer[key]) for key in ("workspace_id", "integration_id", "rule_id") if key in answer}
    accepted.add(world.workspace_id)  # hostile updates of the fuzz workspace itself are fine when answered 2xx
    written = {
        "workspaces": world.sql("SELECT workspace_id FROM query.workspaces WHERE created_at >= %s", since),
        "integrations": world.sql("SELECT integration_id FROM query.integrations WHERE created_at >= %s", since),
        "routing_rules": world.sql("SELECT rule_id FROM query.routing_rules WHERE updated_at >= %s", since),
        "slack_connections": world.sql("SELECT workspace_id FROM query.slack_connections WHERE connected_at >= %s",
                                       since),
    }
    return [f"{table}: rows written without a 2xx answer: {sorted(unanswered)[:5]}"
            for table, rows in written.items() if (unanswered := {str(r[0]) for r in rows} - accepted)]


def pipeline_problems(world: FuzzWorld, report: FuzzReport, since: datetime) -> list[str]:
    """Wait until every accepted alert is in the read model; then no dead letters and every page readable."""
    expected = report.expected_alerts()
    deadline = time.monotonic() + PIPELINE_WAIT_S
    shown = -1
    while time.monotonic() < deadline:
        shown = world.sql("SELECT count(*) FROM query.alerts WHERE workspace_id = %s AND received_at >= %s",
                          world.workspace_id, since)[0][0]
        if shown >= expected or _dead_letters(world, since):
            break
        time.sleep(0.5)
    problems = []
    if shown != expected:
        problems.append(f"the read model shows {shown} of the {expected} alerts accepted")
    time.sleep(2.0)  # grouping, routing and notifying trail the read model of alerts
    dead = _dead_letters(world, since)
    if dead:
        problems.append(f"{len(dead)} dead letters after accepted webhooks, e.g. {dead[:3]}")
    problems += _unreadable_pages(world)
    return problems


def _dead_letters(world: FuzzWorld, since: datetime) -> list[tuple[Any, ...]]:
    return world.sql("SELECT consumer, original_type, left(error, 300) FROM query.deadletters WHERE at >= %s", since)


def _unreadable_pages(world: FuzzWorld) -> list[str]:
    """Every page of alerts and groups of the fuzz workspace, as the frontend pages through them."""
    problems = []
    headers = {"Authorization": f"Bearer {world.admin_token}"}
    with httpx.Client(base_url=world.url("query-api"), headers=headers, timeout=60) as client:
        for path in ("/api/alerts", "/api/alert-groups"):
            before: str | None = None
            for _ in range(10_000):
                params = {"workspace_id": world.workspace_id, "limit": 500, **({"before": before} if before else {})}
                response = client.get(path, params=params)
                if response.status_code != 200:
                    problems.append(f"GET {path} before={before}: {response.status_code} {response.text[:200]}")
                    break
                before = response.json()["next_before"]
                if before is None:
                    break
        groups = client.get("/api/alert-groups", params={"workspace_id": world.workspace_id, "limit": 50})
        for group in groups.json().get("items", []) if groups.status_code == 200 else []:
            detail = client.get(f"/api/alert-groups/{group['group_id']}")
            if detail.status_code != 200:
                problems.append(f"GET /api/alert-groups/{group['group_id']}: {detail.status_code} {detail.text[:200]}")
        for path in ("/api/dashboard/overview", "/api/delivery-health"):
            response = client.get(path, params={"workspace_id": world.workspace_id})
            if response.status_code != 200:
                problems.append(f"GET {path}: {response.status_code} {response.text[:200]}")
    return problems
