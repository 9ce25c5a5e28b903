"""Read API latency at scale (issue 11.8): 100,000 groups and 1,000,000 alerts in query-api's read models.

A fresh embedded PostgreSQL gets query-api's own Alembic migrations (the `upgrade` the service runs at
start), then rows generated inside PostgreSQL (INSERT ... SELECT generate_series) into those same
tables: five workspaces of unequal size (40/25/15/12/8 %), six sources, three environments, five
severities, four statuses, tags, timestamps spread over 7 days on a 5-second grid (so many alerts
share a received_at, as a batched webhook's do), and for every group its timeline, notifications
and sometimes a note. Then VACUUM ANALYZE, as autovacuum would have done on a live database.

The real query-api app (create_service(...).app(): its routers, auth, middleware) is served by one
uvicorn worker in its own process, as the service runs (uvloop, httptools, no access log), with the
Kafka side of its lifespan left out: migrations and its startup hooks run, no broker is needed to
answer reads. Every request carries the admin (super-user) token. Beside it, bench/ceiling_app.py's
constant endpoint (GET /readyz) is measured in each run with the same client and concurrency.

Per endpoint and run: closed loop, `--concurrency` requests in flight over keep-alive connections
(httpx), `--warmup` requests then `--requests` timed ones, rotating over the workspaces (and over 200
groups for the detail). Prints p50/p95/max and requests per run, then median (min–max) over
`--runs`. Writes bench/results/read-api/<timestamp>.json. Prints, does not assert.

    .venv/bin/python -m bench.read_api_bench                        # 100k groups, 1M alerts, 3 runs
    .venv/bin/python -m bench.read_api_bench --groups 10000 --alerts 100000 --runs 1   # a quick check
    .venv/bin/python -m bench.read_api_bench --explain              # also EXPLAIN ANALYZE each query
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CEILING_APP = BENCH_DIR / "ceiling_app.py"
RESULTS_DIR = BENCH_DIR / "results" / "read-api"
ADMIN_TOKEN = "bench-read-api-admin-token"
TARGET_P95_MS = 50.0
PAGE = 50  # the API's default page size
DEEP_PAGES = 200  # the deep page is the one after DEEP_PAGES full pages
MIN_TIMED = 40  # timed requests per endpoint and run, whatever the time budget

# (workspace, share of groups in %): unequal, as real tenants are.
WORKSPACES: tuple[tuple[str, int], ...] = (("acme", 40), ("globex", 25), ("initech", 15), ("umbrella", 12),
                                           ("hooli", 8))
SOURCES = ("sentry", "datadog", "alertmanager", "grafana", "cloudwatch", "pagerduty")
PROBLEMS = ("TimeoutError", "HighLatency", "DiskFull", "OOMKilled", "5xx rate above 2%", "CPU saturation",
            "ConnectionRefused", "KeyError: 'user_id'", "Certificate expires soon", "Queue backlog")
REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
# The dashboard's rollups (migration 0008_group_rollup), vacuumed and analyzed after the load.
ROLLUP_TABLES = ("alert_hours", "alert_days", "alert_series", "alert_hour_changes", "group_hours", "group_days",
                 "group_series", "group_hour_changes", "notification_hours", "notification_hour_changes")
BULK_TABLES = ("query.alerts", "query.groups", "query.timeline", "query.notifications", "query.notes")


# --- pure helpers (tests/unit/bench/test_read_api_bench.py) ---------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(latencies_ms, 50), 2), "p95_ms": round(percentile(latencies_ms, 95), 2),
            "max_ms": round(max(latencies_ms), 2) if latencies_ms else math.nan, "requests": len(latencies_ms)}


def over_runs(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of one figure over the runs."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def range_text(values: Sequence[float], decimals: int = 1) -> str:
    """'12.3 (11.0–14.2)' over several runs, '12.3' for one."""
    spread = over_runs(values)
    if len(values) == 1:
        return f"{spread['median']:.{decimals}f}"
    return f"{spread['median']:.{decimals}f} ({spread['min']:.{decimals}f}–{spread['max']:.{decimals}f})"


def workspace_case(column: str, shares: Sequence[tuple[str, int]] = WORKSPACES) -> str:
    """SQL choosing a workspace from `column` mod 100 by the shares (which must sum to 100)."""
    if sum(share for _, share in shares) != 100:
        raise ValueError("workspace shares must sum to 100")
    arms, upto = [], 0
    for name, share in shares[:-1]:
        upto += share
        arms.append(f"WHEN {column} % 100 < {upto} THEN '{name}'")
    return f"CASE {' '.join(arms)} ELSE '{shares[-1][0]}' END"


def sql_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def seed_statements(groups: int, alerts: int, now_epoch: int, days: int = 7) -> list[tuple[str, str]]:
    """(what, SQL) to run in order on one connection: rows generated inside PostgreSQL, into query-api's
    own tables. Times are on a 5 s grid ending at `now_epoch` (rounded down to it)."""
    if alerts < groups:
        raise ValueError("every group needs at least one alert: alerts >= groups")
    slots = days * 86_400 // 5
    now = f"to_timestamp({now_epoch - now_epoch % 5})"
    ws = workspace_case("g")
    return [
        ("session", "SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'; SET synchronous_commit = off; "
                    "SELECT setseed(0.118)"),
        # One row per group: its attributes, when it opened and over how long its alerts came.
        ("plan groups", f"""
CREATE TEMP TABLE seed_groups AS
SELECT g, md5('bench-group-' || g)::uuid AS group_id, {ws} AS workspace_id,
       ({sql_array(SOURCES)})[1 + floor({len(SOURCES)} * r_source ^ 1.5)::int] AS source,
       'project-' || lpad(floor(20 * r_project ^ 2)::int::text, 2, '0') AS project,
       CASE WHEN r_env < 0.5 THEN 'production' WHEN r_env < 0.8 THEN 'staging' ELSE 'development' END AS environment,
       CASE WHEN r_sev < 0.15 THEN 'info' WHEN r_sev < 0.35 THEN 'low' WHEN r_sev < 0.65 THEN 'medium'
            WHEN r_sev < 0.9 THEN 'high' ELSE 'critical' END AS severity,
       ({sql_array(PROBLEMS)})[1 + floor({len(PROBLEMS)} * r_problem)::int] || ' in svc-' || (g % 40) AS title,
       jsonb_build_object('team', 'team-' || (g % 8), 'service', 'svc-' || (g % 40),
                          'region', ({sql_array(REGIONS)})[1 + g % {len(REGIONS)}]) AS tags,
       {now} - make_interval(secs => age_slot * 5) AS first_seen_at,
       floor(age_slot * r_span ^ 2)::int * 5 AS span_s,
       r_test < 0.002 AS is_test, r_status, r_ack, r_who
FROM (SELECT g, random() AS r_source, random() AS r_project, random() AS r_env, random() AS r_sev,
             random() AS r_problem, random() AS r_span, random() AS r_test, random() AS r_status,
             random() AS r_ack, random() AS r_who,
             floor(random() * {slots})::int AS age_slot
      FROM generate_series(1, {groups}) AS g) AS r"""),
        ("index plan", "CREATE UNIQUE INDEX ON seed_groups (g); ANALYZE seed_groups"),
        # Alert i <= groups opens group i; the rest go to groups skewed towards the noisy ones
        # (group g gets a share ~ 1/sqrt(g)), at a time within the group's span.
        ("plan alerts", f"""
CREATE TEMP TABLE seed_alerts AS
SELECT a.i, a.g, s.first_seen_at + make_interval(
         secs => CASE WHEN a.i <= {groups} THEN 0 ELSE floor(random() * (s.span_s / 5 + 1))::int * 5 END) AS received_at
FROM (SELECT i, CASE WHEN i <= {groups} THEN i ELSE 1 + floor({groups} * random() ^ 2)::int END AS g
      FROM generate_series(1, {alerts}) AS i) AS a
JOIN seed_groups AS s USING (g)"""),
        ("count alerts", """
CREATE TEMP TABLE seed_counts AS
SELECT g, count(*)::int AS n, max(received_at) AS last_seen_at FROM seed_alerts GROUP BY g;
CREATE UNIQUE INDEX ON seed_counts (g); ANALYZE seed_counts"""),
        ("workspaces", f"""
INSERT INTO query.workspaces (workspace_id, name, dedup_window_minutes, auto_close_minutes, default_channel)
SELECT w, initcap(w), 60, 240, '#alerts-' || w FROM unnest({sql_array([w for w, _ in WORKSPACES])}) AS w"""),
        ("integrations", f"""
INSERT INTO query.integrations (integration_id, workspace_id, provider, name, secret_encrypted, options, enabled)
SELECT w || '-' || p, w, p, initcap(p) || ' (' || w || ')', 'bench: not a secret', '{{}}'::jsonb, true
FROM unnest({sql_array([w for w, _ in WORKSPACES])}) AS w, unnest({sql_array(SOURCES)}) AS p"""),
        # Recent groups are mostly still open or acknowledged; older ones mostly resolved.
        ("groups", f"""
INSERT INTO query.groups (group_id, workspace_id, group_key, source, project, environment, severity, status, title,
  description, count, first_seen_at, last_seen_at, link, tags, channel, runbook_url, notified_at, acknowledged_at,
  resolved_at, acknowledged_by, snoozed_until, resolved_by, reopen_count, flapping, is_test, assignee, rule_id,
  person_acted_at)
SELECT group_id, workspace_id, group_key, source, project, environment, severity, status, title,
       'Bench group ' || g || ': ' || title, n, first_seen_at, last_seen_at,
       'https://' || source || '.example.com/issues/' || g, tags, '#alerts-' || project,
       CASE WHEN g % 3 = 0 THEN 'https://runbooks.example.com/' || project END,
       first_seen_at + interval '2 seconds', acknowledged_at,
       CASE WHEN status = 'resolved' THEN least({now}, last_seen_at + interval '5 minutes') END,
       acknowledged_by,
       CASE WHEN status = 'snoozed' THEN {now} + interval '1 hour' END,
       CASE WHEN status = 'resolved' THEN CASE WHEN r_who < 0.5 THEN 'grouping' ELSE 'slack:T01BENCH/U0' || (g % 50) END END,
       (g % 50 = 0)::int, g % 500 = 0, is_test,
       CASE WHEN g % 5 = 0 THEN 'user-' || (g % 30) END,
       CASE WHEN g % 2 = 0 THEN 'rule-' || workspace_id || '-' || (g % 6) END,
       CASE WHEN acknowledged_by LIKE 'slack:%' OR acknowledged_by LIKE 'api:%' THEN acknowledged_at END
FROM (
  SELECT y.*,
         CASE WHEN status = 'acknowledged' OR (status = 'resolved' AND r_ack < 0.6)
              THEN least({now}, first_seen_at + make_interval(secs => 30 + floor(r_ack * 1800)::int)) END AS acknowledged_at,
         CASE WHEN status = 'acknowledged' OR (status = 'resolved' AND r_ack < 0.6)
              THEN CASE WHEN r_who < 0.6 THEN 'slack:T01BENCH/U0' || (g % 50)
                        WHEN r_who < 0.85 THEN 'api:user-' || (g % 30) ELSE source || ':provider' END END
              AS acknowledged_by
  FROM (
    SELECT s.*, c.n, c.last_seen_at, s.source || ':' || s.project || ':' || substr(md5(s.g::text), 1, 16) AS group_key,
           CASE WHEN c.last_seen_at > {now} - interval '2 hours' THEN
                  CASE WHEN r_status < 0.45 THEN 'open' WHEN r_status < 0.75 THEN 'acknowledged'
                       WHEN r_status < 0.85 THEN 'snoozed' ELSE 'resolved' END
                ELSE CASE WHEN r_status < 0.92 THEN 'resolved' WHEN r_status < 0.96 THEN 'acknowledged'
                          WHEN r_status < 0.99 THEN 'open' ELSE 'snoozed' END END AS status
    FROM seed_groups AS s JOIN seed_counts AS c USING (g)
  ) AS y
) AS x"""),
        ("alerts", """
INSERT INTO query.alerts (event_id, workspace_id, integration_id, delivery_id, group_key, source, source_event_id,
  project, environment, severity, status, fingerprint, title, link, tags, occurred_at, received_at, is_test)
SELECT gen_random_uuid(), g.workspace_id, g.workspace_id || '-' || g.source,
       g.workspace_id || '-' || g.source || '-' || (extract(epoch FROM a.received_at)::bigint / 5),
       g.group_key, g.source, substr(md5('alert-' || a.i), 1, 32), g.project, g.environment, g.severity,
       CASE WHEN a.i % 20 = 0 THEN 'resolved' ELSE 'firing' END, substr(md5(g.group_key), 1, 24), g.title, g.link,
       g.tags, a.received_at - make_interval(secs => a.i % 30), a.received_at, g.is_test
FROM seed_alerts AS a JOIN query.groups AS g ON g.group_id = md5('bench-group-' || a.g)::uuid
ORDER BY a.received_at"""),
        # The dashboard's alert rollup as the projection keeps it: the alerts per hour, source and
        # project appended as changes (as its insert statement appends them), the group keys' last
        # alert (whose trigger appends each key to its hour); the fold below sums them.
        ("alert rollup", """
INSERT INTO query.alert_hour_changes (workspace_id, hour, source, project, is_test, alerts, keys)
SELECT workspace_id, date_trunc('hour', received_at, 'UTC'), source, project, coalesce(is_test, false), count(*), 0
FROM query.alerts GROUP BY 1, 2, 3, 4, 5;
INSERT INTO query.alert_keys (workspace_id, source, project, group_key, is_test, last_received_at)
SELECT workspace_id, source, project, group_key, coalesce(is_test, false), max(received_at)
FROM query.alerts GROUP BY 1, 2, 3, 4, 5"""),
        # A group's history: opened, routed, notified, its alert batches (debounced updates, up to 5),
        # acknowledged, resolved.
        ("timeline", """
INSERT INTO query.timeline (event_id, group_id, at, kind, detail)
SELECT gen_random_uuid(), group_id, at, kind, detail FROM (
  SELECT group_id, first_seen_at AS at, 'opened' AS kind,
         jsonb_build_object('count', 1, 'severity', severity, 'status', 'open') AS detail FROM query.groups
  UNION ALL
  SELECT group_id, first_seen_at + interval '1 second', 'notification_requested',
         jsonb_build_object('kind', 'new_group', 'channel', channel, 'workspace_id', workspace_id) FROM query.groups
  UNION ALL
  SELECT group_id, first_seen_at + interval '2 seconds', 'notification_delivered',
         jsonb_build_object('kind', 'new_group', 'channel', channel, 'ts', '1700000000.000100') FROM query.groups
  UNION ALL
  SELECT group_id, first_seen_at + (last_seen_at - first_seen_at) * k / (least(count - 1, 5) + 1),
         'alerts_added', jsonb_build_object('count', 1 + k, 'severity', severity, 'status', 'open', 'alerts_added', 1)
  FROM query.groups CROSS JOIN LATERAL generate_series(1, least(count - 1, 5)) AS k
  UNION ALL
  SELECT group_id, acknowledged_at, 'acknowledged',
         jsonb_build_object('count', count, 'severity', severity, 'status', 'acknowledged', 'by', acknowledged_by)
  FROM query.groups WHERE acknowledged_at IS NOT NULL
  UNION ALL
  SELECT group_id, resolved_at, 'resolved',
         jsonb_build_object('count', count, 'severity', severity, 'status', 'resolved', 'by', resolved_by,
                            'reason', CASE WHEN resolved_by = 'grouping' THEN 'auto_close' ELSE 'manual' END)
  FROM query.groups WHERE resolved_at IS NOT NULL
) AS t ORDER BY at"""),
        # Its Slack messages: the new-group message (1 in 100 failed), up to two rewrites, the ack's
        # and the resolve's.
        ("notifications", """
INSERT INTO query.notifications (notification_id, workspace_id, group_id, kind, channel, status, error, attempts,
  latency_ms, requested_at, finished_at)
SELECT gen_random_uuid(), workspace_id, group_id, kind, channel, status,
       CASE WHEN status = 'failed' THEN 'channel_not_found' END, 1, latency_ms, requested_at,
       requested_at + make_interval(secs => latency_ms / 1000) FROM (
  SELECT workspace_id, group_id, 'new_group' AS kind, channel,
         CASE WHEN (hashtext(group_id::text) & 127) = 0 THEN 'failed' ELSE 'delivered' END AS status,
         200 + (hashtext(group_id::text) & 1023)::float AS latency_ms, first_seen_at + interval '1 second' AS requested_at
  FROM query.groups
  UNION ALL
  SELECT workspace_id, group_id, 'updated', channel, 'delivered', 150 + k * 40,
         first_seen_at + (last_seen_at - first_seen_at) * k / 3
  FROM query.groups CROSS JOIN LATERAL generate_series(1, least(count - 1, 2)) AS k
  UNION ALL
  SELECT workspace_id, group_id, 'state_changed', channel, 'delivered', 180, acknowledged_at
  FROM query.groups WHERE acknowledged_at IS NOT NULL
  UNION ALL
  SELECT workspace_id, group_id, 'resolved', channel, 'delivered', 170, resolved_at
  FROM query.groups WHERE resolved_at IS NOT NULL
) AS n ORDER BY requested_at"""),
        ("notes", """
INSERT INTO query.notes (note_id, group_id, workspace_id, text, "by", at)
SELECT gen_random_uuid(), group_id, workspace_id, 'Looked at it: ' || title, 'api:user-' || (count % 30),
       first_seen_at + interval '10 minutes'
FROM query.groups WHERE hashtext(group_id::text) % 33 = 0"""),
        ("integration activity", """
INSERT INTO query.integration_activity (integration_id, workspace_id, last_webhook_at, alerts_total)
SELECT integration_id, workspace_id, max(received_at), count(*) FROM query.alerts GROUP BY integration_id, workspace_id"""),
    ]


def endpoint_paths(workspaces: Sequence[str], deep_cursors: dict[str, str],
                   groups: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Each endpoint's request paths, cycled through by the requests (workspaces in turn)."""
    def path(route: str, **params: str) -> str:
        return f"{route}?{urlencode(params)}"

    return {
        "alerts inbox, first page": [path("/api/alerts", workspace_id=w) for w in workspaces],
        f"alerts inbox, page {DEEP_PAGES + 1} (cursor)": [
            path("/api/alerts", workspace_id=w, cursor=deep_cursors[w]) for w in workspaces],
        "groups inbox: open, production, by severity": [
            path("/api/alert-groups", workspace_id=w, state="open", environment="production", sort="severity")
            for w in workspaces],
        "group detail with timeline": [path(f"/api/alert-groups/{g}", workspace_id=w) for g, w in groups],
        "dashboard 24 h": [path("/api/dashboard/overview", workspace_id=w, hours="24") for w in workspaces],
        "dashboard 7 d": [path("/api/dashboard/overview", workspace_id=w, hours="168") for w in workspaces],
    }


# --- serving the real query-api ----------------------------------------------------------------------


def serve(port: int, database_url: str) -> None:
    """query-api's FastAPI app as create_service builds it, in one uvicorn worker as Service.run runs
    it; its lifespan runs the migrations and startup hooks, and not the Kafka consumers and relay."""
    import uvicorn
    from fastapi import FastAPI

    from signalcraft_query_api.main import QueryApiSettings, create_service
    from signalcraft_runtime.logs import configure_logging
    from signalcraft_runtime.migrate import upgrade

    settings = QueryApiSettings(database_url=database_url, admin_token=ADMIN_TOKEN, http_port=port,
                                log_level="WARNING", log_format="console")
    service = create_service(settings)
    app = service.app()

    @asynccontextmanager
    async def reads_only(_: FastAPI) -> Any:
        await asyncio.to_thread(upgrade, settings.database_url, service.schema, service.migrations)
        for hook in service.on_startup:
            await hook(service)
        try:
            yield
        finally:
            await service.engine.dispose()

    app.router.lifespan_context = reads_only
    configure_logging(service.name, settings.log_level, settings.log_format)
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, loop="uvloop", http="httptools",
                lifespan="on", access_log=False)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Servers:
    api: str
    ceiling: str
    api_pid: int
    ceiling_pid: int
    postgres_pid: int


async def timed_requests(base: str, paths: Sequence[str], count: int, concurrency: int,
                         warmup: int, budget_s: float = math.inf) -> list[float]:
    """Closed loop: `concurrency` requests in flight; `warmup` untimed, then `count` timed (ms), or
    fewer if `budget_s` runs out first (at least MIN_TIMED of them)."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as client:
        async def loop(total: int, into: list[float] | None) -> None:
            numbers, until = itertools.count(), time.monotonic() + budget_s

            async def worker() -> None:
                while (n := next(numbers)) < total and (n < MIN_TIMED or time.monotonic() < until):
                    started = time.perf_counter()
                    response = await client.get(paths[n % len(paths)])
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {paths[n % len(paths)]}: {response.status_code} {response.text[:300]}")
                    if into is not None:
                        into.append(elapsed)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        await loop(warmup, None)
        latencies: list[float] = []
        await loop(count, latencies)
        return latencies


def cpu_ms_per_request(roots: dict[str, int], base: str, paths: Sequence[str],
                       args: argparse.Namespace) -> tuple[list[float], dict[str, float]]:
    """The timed latencies, and the CPU each server process tree spent per request (warm-up included):
    a figure other processes' load on the machine changes far less than the latency."""
    from . import procstat

    before = procstat.ticks_by_tree(procstat.snapshot(), roots)
    latencies = asyncio.run(timed_requests(base, paths, args.requests, args.concurrency, args.warmup, args.budget))
    after = procstat.ticks_by_tree(procstat.snapshot(), roots)
    per = procstat.per_unit_ms(procstat.seconds_between(before, after), args.warmup + len(latencies))
    return latencies, {name: round(ms, 2) for name, ms in per.items()}


def measure_run(servers: Servers, endpoints: dict[str, list[str]], args: argparse.Namespace) -> dict[str, Any]:
    run: dict[str, Any] = {"loadavg_start": [round(x, 2) for x in os.getloadavg()], "endpoints": {}}
    ceiling, cpu = cpu_ms_per_request({"server": servers.ceiling_pid}, servers.ceiling, ["/readyz"], args)
    run["ceiling"] = {**summarize(ceiling), "cpu_ms_per_request": cpu}
    for name, paths in endpoints.items():
        latencies, cpu = cpu_ms_per_request({"server": servers.api_pid, "postgres": servers.postgres_pid},
                                            servers.api, paths, args)
        run["endpoints"][name] = {**summarize(latencies), "cpu_ms_per_request": cpu}
    run["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    return run


def print_run(number: int, run: dict[str, Any]) -> None:
    c = run["ceiling"]
    print(f"\nrun {number}: load average {run['loadavg_start'][0]} -> {run['loadavg_end'][0]}; "
          f"ceiling (bare FastAPI, constant) p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms, "
          f"max {c['max_ms']:.1f} ms, {c['requests']} requests, CPU {c['cpu_ms_per_request']['server']:.2f} ms/request")
    width = max(len(name) for name in run["endpoints"])
    for name, s in run["endpoints"].items():
        cpu = s["cpu_ms_per_request"]
        print(f"  {name:<{width}}  p50 {s['p50_ms']:7.1f}  p95 {s['p95_ms']:7.1f}  max {s['max_ms']:7.1f} ms"
              f"  ({s['requests']} requests)  CPU per request: query-api {cpu['server']:.1f} ms, "
              f"postgres {cpu['postgres']:.1f} ms")


def print_summary(runs: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Median (min–max) over the runs, each endpoint beside the runs' ceiling; returns the rows."""
    def figures(of: list[dict[str, Any]]) -> dict[str, list[float]]:
        return {**{k: [f[k] for f in of] for k in ("p50_ms", "p95_ms", "max_ms", "requests")},
                **{f"cpu_{tree}_ms": [f["cpu_ms_per_request"].get(tree, 0.0) for f in of]
                   for tree in ("server", "postgres")}}

    rows = [{"endpoint": "ceiling: bare FastAPI, constant (GET /readyz)", **figures([r["ceiling"] for r in runs])}]
    for name in runs[0]["endpoints"]:
        rows.append({"endpoint": name, **figures([r["endpoints"][name] for r in runs])})
    ceiling_p95 = range_text(rows[0]["p95_ms"])
    print(f"\n{len(runs)} run(s), {args.concurrency} requests in flight, median (min–max) over runs, ms; "
          f"target p95 < {TARGET_P95_MS:g} ms")
    width = max(len(r["endpoint"]) for r in rows)
    print(f"  {'endpoint':<{width}}  {'p50':>18}  {'p95':>18}  {'max':>20}  requests  {'ceiling p95':>18}  "
          f"p95<{TARGET_P95_MS:g}   CPU ms/request: server, postgres")
    for row in rows:
        verdict = "" if row is rows[0] else ("met" if max(row["p95_ms"]) < TARGET_P95_MS else
                                             "MISSED" if min(row["p95_ms"]) >= TARGET_P95_MS else "some runs")
        print(f"  {row['endpoint']:<{width}}  {range_text(row['p50_ms']):>18}  {range_text(row['p95_ms']):>18}  "
              f"{range_text(row['max_ms']):>20}  {sum(row['requests']):>8}  {ceiling_p95:>18}  {verdict:<9}  "
              f"{range_text(row['cpu_server_ms'], 2)}, {range_text(row['cpu_postgres_ms'], 2)}")
    return rows


async def fold_rollup(database_url: str) -> int:
    """The dashboard's rollups: the alert rollup step and the triggers on groups, notifications and
    alert keys appended changes; the service's own fold (its drain loop) sums them, here until none is
    left."""
    from signalcraft_query_api.repository.rollup import fold_rollup_changes
    from signalcraft_runtime.database import create_engine

    engine, moved = create_engine(database_url, pool_size=1), 0
    try:
        while True:
            async with engine.begin() as conn:
                step = await fold_rollup_changes(conn, limit=200_000)
            if step == 0:
                return moved
            moved += step
    finally:
        await engine.dispose()


def seed(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    timings: dict[str, float] = {}
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The migrations' indexes and keys on the bulk tables are dropped and then built again from
        # their own definitions (pg_get_indexdef, pg_get_constraintdef): the same tables, loaded the
        # way a restore loads them, several times faster than 1M random inserts into each index.
        rebuild = conn.execute(
            "SELECT format('ALTER TABLE %%s DROP CONSTRAINT %%I', conrelid::regclass, conname), "
            "       format('ALTER TABLE %%s ADD CONSTRAINT %%I %%s', conrelid::regclass, conname, pg_get_constraintdef(oid)) "
            "FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = ANY(%s::regclass[]) "
            "UNION ALL "
            "SELECT format('DROP INDEX %%s', indexrelid::regclass), pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[]) "
            "  AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u'))",
            (list(BULK_TABLES), list(BULK_TABLES))).fetchall()
        for drop, _ in rebuild:
            conn.execute(drop)  # type: ignore[arg-type]
        for what, sql in seed_statements(args.groups, args.alerts, int(time.time())):
            t = time.monotonic()
            conn.execute(sql)  # type: ignore[arg-type]  # one or more statements, no parameters
            timings[what] = round(time.monotonic() - t, 1)
            print(f"  {what}: {timings[what]:.1f}s", flush=True)
        t = time.monotonic()
        for _, create in rebuild:
            conn.execute(create)  # type: ignore[arg-type]
        timings["indexes and keys"] = round(time.monotonic() - t, 1)
        print(f"  indexes and keys ({len(rebuild)}): {timings['indexes and keys']:.1f}s", flush=True)
        t = time.monotonic()
        moved = asyncio.run(fold_rollup(database_url))
        timings["rollup fold"] = round(time.monotonic() - t, 1)
        print(f"  rollup fold: {moved:,} changes folded in {timings['rollup fold']:.1f}s", flush=True)
        t = time.monotonic()
        conn.execute("DROP TABLE seed_alerts, seed_counts, seed_groups")
        for table in ("alerts", "groups", "timeline", "notifications", "notes", "integration_activity",
                      "workspaces", "integrations", "alert_keys", *ROLLUP_TABLES):
            conn.execute(f"VACUUM (ANALYZE) query.{table}")  # type: ignore[arg-type]
        timings["vacuum analyze"] = round(time.monotonic() - t, 1)
        print(f"  vacuum analyze: {timings['vacuum analyze']:.1f}s", flush=True)
        counts = {table: conn.execute(f"SELECT count(*) FROM query.{table}").fetchone()[0]  # type: ignore[index,arg-type]
                  for table in ("alerts", "groups", "timeline", "notifications", "notes")}
        shared = conn.execute("SELECT count(*) FILTER (WHERE n > 1), count(*) FROM "
                              "(SELECT count(*) AS n FROM query.alerts GROUP BY received_at) AS t").fetchone()
        sizes = {name: size for name, size in conn.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'query' AND c.relkind = 'r' "
            "AND c.relname IN ('alerts', 'groups', 'timeline', 'notifications')").fetchall()}
    assert shared is not None
    return {"seconds": round(time.monotonic() - started, 1), "steps_s": timings, "rows": counts,
            "received_at_instants": shared[1], "received_at_instants_shared": shared[0], "sizes": sizes}


def reuse(database_url: str) -> dict[str, Any] | None:
    """The rows of a data directory seeded by an earlier run (--data-dir), or None if it is empty."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM query.{table}").fetchone()[0]  # type: ignore[index,arg-type]
                  for table in ("alerts", "groups", "timeline", "notifications", "notes")}
    if not counts["alerts"]:
        return None
    print("reusing the seeded data directory", flush=True)
    return {"seconds": 0.0, "reused": True, "rows": counts, "received_at_instants": 0,
            "received_at_instants_shared": 0, "sizes": {}}


def pick_targets(database_url: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Per workspace, the cursor after its first DEEP_PAGES pages (the key of the page's last row, as
    the API's own next_cursor encodes it); and 200 groups across the workspaces for the detail."""
    import psycopg

    from signalcraft_query_api.domain.read_views import encode_cursor

    cursors = {}
    with psycopg.connect(database_url) as conn:
        for workspace, _ in WORKSPACES:
            row = conn.execute(
                "SELECT received_at, event_id FROM query.alerts WHERE workspace_id = %s "
                "ORDER BY received_at DESC, event_id DESC OFFSET %s LIMIT 1",
                (workspace, DEEP_PAGES * PAGE - 1)).fetchone()
            assert row is not None, f"{workspace} has fewer than {DEEP_PAGES * PAGE} alerts"
            cursors[workspace] = encode_cursor(row[0], row[1])
        groups = [(str(g), w) for g, w in conn.execute(
            "SELECT group_id, workspace_id FROM query.groups ORDER BY md5(group_id::text) LIMIT 200").fetchall()]
    return cursors, groups


def check_deep_cursor(base: str, workspace: str, constructed: str) -> float:
    """Follow next_cursor DEEP_PAGES pages through the API: the cursor reached must hold the same key
    as the constructed one. Returns the seconds it took."""
    import httpx

    from signalcraft_query_api.domain.read_views import decode_cursor

    started, cursor, seen = time.monotonic(), None, set()
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60) as client:
        for _ in range(DEEP_PAGES):
            params = {"workspace_id": workspace, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/alerts", params=params).raise_for_status().json()
            seen.update(item["event_id"] for item in page["items"])
            cursor = page["next_cursor"]
    kinds = (datetime, uuid.UUID)
    if cursor is None or decode_cursor(cursor, kinds) != decode_cursor(constructed, kinds):
        raise RuntimeError(f"following {DEEP_PAGES} pages of {workspace} did not reach the constructed cursor")
    if len(seen) != DEEP_PAGES * PAGE:
        raise RuntimeError(f"{DEEP_PAGES} pages of {workspace} held {len(seen)} distinct alerts")
    return time.monotonic() - started


def explain(database_url: str, cursors: dict[str, str], groups: list[tuple[str, str]]) -> None:
    """EXPLAIN ANALYZE of the statements each endpoint runs, for the largest workspace."""
    from sqlalchemy import create_engine, text

    from signalcraft_query_api.domain.read_views import decode_cursor
    from signalcraft_query_api.repository.read_queries import Filters, ReadQueries
    from signalcraft_runtime.database import sqlalchemy_url

    workspace = WORKSPACES[0][0]
    group_id = next(uuid.UUID(g) for g, w in groups if w == workspace)
    statements: list[tuple[str, Any]] = []

    class Recorder:
        """Stands in for the connection: records each statement and answers what the next query needs."""

        def __init__(self, real: Any) -> None:
            self.real = real

        async def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
            statements.append((statement, params))
            return self.real.execute(statement, params)

    engine = create_engine(sqlalchemy_url(database_url))

    async def collect(conn: Any) -> list[tuple[str, list[Any]]]:
        queries = ReadQueries(Recorder(conn))  # type: ignore[arg-type]
        found = []
        after = decode_cursor(cursors[workspace], (datetime, uuid.UUID))
        for name, call in (
            ("alerts first page", lambda: queries.alerts(workspace, Filters(), PAGE)),
            ("alerts deep page", lambda: queries.alerts(workspace, Filters(), PAGE, after)),
            ("groups page", lambda: queries.groups(workspace, Filters({"status": "open", "environment": "production"}),
                                                   PAGE, "severity")),
            ("groups totals", lambda: queries.group_totals(workspace, Filters({"status": "open",
                                                                                "environment": "production"}))),
            ("group detail", lambda: _detail(queries, group_id)),
            ("dashboard 7 d", lambda: queries.overview_counts(
                workspace, datetime.now(timezone.utc) - timedelta(hours=168))),
        ):
            statements.clear()
            await call()
            found.append((name, list(statements)))
        return found

    with engine.connect() as conn:
        for name, stmts in asyncio.run(collect(conn)):
            for statement, params in stmts:
                if params is None:
                    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
                else:  # a text statement with its parameters
                    sql = f"{statement.text}\n-- {params}"
                    plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement.text), params).fetchall()
                print(f"\n--- {name}\n{sql}\n" + "\n".join(r[0] for r in plan))
    engine.dispose()


async def _detail(queries: Any, group_id: Any) -> None:
    group = await queries.group(group_id)
    await queries.group_detail(group, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint per run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before them")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per endpoint per run: fewer "
                        f"requests if they run out (at least {MIN_TIMED})")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight (same for the ceiling)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each endpoint's queries first")
    parser.add_argument("--data-dir", type=Path, help="keep PostgreSQL's data here; one already seeded is "
                        "reused, its seeding skipped (migrations still run)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the query-api child
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url)
        return

    import httpx

    from signalcraft_devstack.ports import free_ports, wait_for_port
    from signalcraft_devstack.postgres import EmbeddedPostgres
    from signalcraft_devstack.process import ManagedProcess
    import signalcraft_query_api
    from signalcraft_runtime.migrate import upgrade

    root = Path(tempfile.mkdtemp(prefix="signalcraft-read-api-bench-"))
    results: dict[str, Any] = {"schema": 1, "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                               "options": {k: v for k, v in vars(args).items() if k not in ("serve", "database_url")},
                               "machine": {"cores": os.cpu_count(), "loadavg_start": list(os.getloadavg())},
                               "commit": _git("rev-parse", "HEAD")}
    # fsync off: it changes how fast rows are written, not how fast they are read.
    postgres = EmbeddedPostgres(args.data_dir or root / "postgres", durable=False)
    processes: list[ManagedProcess] = []
    try:
        postgres.start()
        database_url = postgres.create_database("signalcraft")
        t = time.monotonic()
        upgrade(database_url, "query", Path(signalcraft_query_api.__file__).parent / "migrations")
        print(f"query-api migrations: {time.monotonic() - t:.1f}s", flush=True)
        results["seed"] = reuse(database_url)
        if results["seed"] is None:
            print(f"seeding {args.groups:,} groups and {args.alerts:,} alerts ...", flush=True)
            results["seed"] = seed(database_url, args)
        s = results["seed"]
        how = "reused" if s.get("reused") else f"seeded in {s['seconds']:.0f}s"
        print(f"{how}: {', '.join(f'{n:,} {t}' for t, n in s['rows'].items())}", flush=True)
        if not s.get("reused"):
            print(f"{s['received_at_instants']:,} distinct received_at, {s['received_at_instants_shared']:,} of them "
                  f"shared by several alerts; sizes {s['sizes']}", flush=True)
        cursors, groups = pick_targets(database_url)
        if args.explain:
            explain(database_url, cursors, groups)
        if args.runs == 0:
            return

        api_port, ceiling_port = free_ports(2)
        processes.append(ManagedProcess("query-api", [sys.executable, "-m", "bench.read_api_bench", "--serve",
                                                      str(api_port), "--database-url", database_url],
                                        root / "logs" / "query-api.log", env={"PYTHONPATH": str(REPO)}).start())
        processes.append(ManagedProcess("ceiling", [sys.executable, str(CEILING_APP), "--port", str(ceiling_port),
                                                    "--secret", "unused"], root / "logs" / "ceiling.log").start())
        assert postgres.process is not None
        servers = Servers(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ceiling_port}", processes[0].pid,
                          processes[1].pid, postgres.process.pid)
        for process, port in zip(processes, (api_port, ceiling_port), strict=True):
            try:
                wait_for_port(port, timeout=60)
            except TimeoutError:
                raise RuntimeError(f"{process.name} did not start:\n{process.tail()}") from None
        httpx.get(f"{servers.api}/healthz", timeout=30).raise_for_status()
        smallest = WORKSPACES[-1][0]
        took = check_deep_cursor(servers.api, smallest, cursors[smallest])
        print(f"following next_cursor {DEEP_PAGES} pages of {smallest!r} reaches the constructed deep cursor "
              f"({took:.1f}s)", flush=True)

        endpoints = endpoint_paths([w for w, _ in WORKSPACES], cursors, groups)
        results["runs"] = []
        for number in range(1, args.runs + 1):
            run = measure_run(servers, endpoints, args)
            results["runs"].append(run)
            print_run(number, run)
        results["summary"] = print_summary(results["runs"], args)
        results["machine"]["loadavg_end"] = list(os.getloadavg())
        print(f"\nmachine: {os.cpu_count()} cores, load average {results['machine']['loadavg_start'][0]:.1f} at start, "
              f"{results['machine']['loadavg_end'][0]:.1f} at end; seeding {s['seconds']:.0f}s")
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{results['started_at'].replace(':', '')}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        print(f"written to {out.relative_to(REPO)}")
    finally:
        for process in reversed(processes):
            process.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def _git(*argv: str) -> str | None:
    import subprocess

    done = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


if __name__ == "__main__":
    main()
