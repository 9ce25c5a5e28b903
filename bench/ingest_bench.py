"""Ingest benchmark on the durable embedded stack (Tansu on SeaweedFS S3, PostgreSQL with fsync).

One run measures, in this order, and prints every throughput as a ratio to a ceiling measured in
the same run (absolute figures on a shared machine drift from run to run; ratios drift less):
  0. the ceiling: a bare FastAPI + uvicorn process (bench/ceiling_app.py) that verifies the Sentry
     HMAC and parses the same payload, storing nothing, under the same wrk load as step 3;
  1. the idle stack's CPU (share of a core, per process), after setup has settled;
  2. its CPU at 2 webhooks/s to a few existing groups, so debounced group updates flow;
  3. sustained webhook ingest (alerts/s) with wrk, counted only once every accepted alert is durable
     in PostgreSQL *and* grouped, over `--fingerprints` distinct groups (after `--prefill-groups`
     other groups, if asked, were opened and drained: bigger tables, same mix); CPU milliseconds per alert
     for every process (services, Tansu, SeaweedFS, PostgreSQL with its backends, wrk, this driver)
     from /proc/<pid>/stat between load start and an idle pipeline; PSS at load start and end, and
     sampled every tenth of the load (a growth that stops is caches filling; one that keeps on is not);
  4. once that backlog has drained, at a fixed 500 alerts/s and then 50 alerts/s (open loop):
     webhook 2xx latency p50/p99 and webhook -> Slack call latency p50/p99 (recorded by the notifier
     when Slack answers, from the webhook's receipt), each hop's p50, and each broker hop split into
     relay, broker and batch from the services' /metrics (bench/hop_split.py);
  5. memory;
  6. the idle and 2 webhooks/s windows again, once the embedded broker's retention has had its
     time (`--broker-retention-seconds`, default 60 as `make run`; `off` keeps every batch object),
     with the batch objects the broker then holds: Tansu on S3 lists them all on every fetch.
Results go to bench/results/<timestamp>.json; `python -m bench.report` tabulates them over runs.

    make bench                                              # defaults (about 4 minutes)
    make bench BENCH_ARGS="--broker-retention-seconds off"  # the broker keeps its whole history
    make bench BENCH_ARGS="--fingerprints 20000"            # 10x the distinct groups (and more new ones)
    make bench BENCH_ARGS="--prefill-groups 18000"          # 10x the groups in the tables, same mix
    make bench BENCH_ARGS="--sustain-seconds 600"           # flat memory? PSS over the load
    make bench BENCH_ARGS="--ceiling-seconds 5 --idle-seconds 5 --trickle-seconds 5 \\
        --sustain-seconds 5 --rate-seconds 5 --slow-rate-seconds 5"   # a quick check that it runs
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil
import psycopg

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.broker import BUCKET
from signalcraft_devstack.broker_retention import Filer, batch_object_counts
from signalcraft_devstack.ports import free_port, wait_for_port
from signalcraft_devstack.process import ManagedProcess
from signalcraft_devstack.run import broker_retention_from
from signalcraft_devstack.stack import Stack, StackOptions

from . import hop_split, procstat
from .figures import TEST_DOUBLES, against_ceiling, number

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CEILING_APP = BENCH_DIR / "ceiling_app.py"
FIXTURE = REPO / "tests/contract/fixtures/sentry/event-alert-triggered-docs.json"
SECRET = "bench-sentry-client-secret"
RESULTS_SCHEMA = 2
SUSTAINED_MIN_BODIES = 2000

# The fixture with two slots, filled per body: wrk's Lua builds its bodies from the same pieces, so
# the bodies it sends are byte for byte the ones signed here, with one copy of the payload per slot set.
SLOTS = {"event_id": "@@event_id@@", "issue_id": "@@issue_id@@"}


def body_template() -> tuple[list[str], list[str]]:
    """(literal pieces, slot names between them) of the JSON body."""
    payload = json.loads(FIXTURE.read_text())
    event = payload["data"]["event"]
    event["event_id"] = SLOTS["event_id"]
    event["issue_id"] = SLOTS["issue_id"]
    event["tags"] = [t for t in event["tags"] if t[0] != "environment"] + [["environment", "production"]]
    pieces = re.split("(" + "|".join(map(re.escape, SLOTS.values())) + ")", json.dumps(payload))
    names = {marker: name for name, marker in SLOTS.items()}
    return pieces[0::2], [names[marker] for marker in pieces[1::2]]


PIECES, SLOT_ORDER = body_template()


def fill(values: Mapping[str, str]) -> bytes:
    out = [PIECES[0]]
    for name, piece in zip(SLOT_ORDER, PIECES[1:]):
        out += [values[name], piece]
    return "".join(out).encode()


def make_body(issue_id: str) -> tuple[bytes, dict[str, str]]:
    values = {"event_id": uuid.uuid4().hex, "issue_id": issue_id}
    return fill(values), values


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- the stack's state, from PostgreSQL ---

def grouped_alerts(database_url: str, workspace_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT coalesce(sum((snapshot->>'count')::int), 0) FROM grouping.group_heads WHERE workspace_id = %s",
                           (workspace_id,)).fetchone()
    return int(row[0]) if row else 0


def stored_alerts(database_url: str, integration_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT coalesce(sum(alert_count), 0) FROM ingest.deliveries WHERE integration_id = %s",
                           (integration_id,)).fetchone()
    return int(row[0]) if row else 0


SCHEMAS = ("ingest", "grouping", "router", "notifier", "escalator", "query")


def pipeline_idle(database_url: str, workspace_id: str, alerts: int) -> bool:
    """Nothing left in flight: every alert in the read model, no debounced update pending, every
    outbox empty, no Slack call half-done."""
    with psycopg.connect(database_url) as conn:
        projected = conn.execute("SELECT count(*) FROM query.alerts WHERE workspace_id = %s", (workspace_id,)).fetchone()
        pending = conn.execute("SELECT count(*) FROM grouping.group_heads WHERE pending_cause IS NOT NULL").fetchone()
        sending = conn.execute("SELECT count(*) FROM notifier.deliveries WHERE state = 'sending'").fetchone()
        outboxes = [conn.execute(f'SELECT count(*) FROM "{s}".outbox').fetchone() for s in SCHEMAS]
    return (projected is not None and projected[0] >= alerts and pending == (0,) and sending == (0,)
            and all(o == (0,) for o in outboxes))


def wait_settled(database_url: str, workspace_id: str, alerts: int, quiet_checks: int = 3) -> None:
    """A phase must not start while the previous one's backlog still drains downstream (read
    models, debounced updates, Slack): wait until the pipeline stays idle for a few seconds."""
    quiet = 0

    def idle_long_enough() -> bool:
        nonlocal quiet
        quiet = quiet + 1 if pipeline_idle(database_url, workspace_id, alerts) else 0
        return quiet >= quiet_checks

    wait_until(idle_long_enough, 600, interval=1.0, what="the pipeline to drain")


def slack_latencies(database_url: str, since: float) -> list[float]:
    """Webhook -> Slack latency of each new-group message for groups first seen since `since`."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT n.latency_ms FROM query.notifications n JOIN query.groups g USING (group_id) "
            "WHERE n.workspace_id = 'bench' AND n.kind = 'new_group' AND n.status = 'delivered' "
            "AND g.first_seen_at >= to_timestamp(%s)", (since,)).fetchall()
    return [r[0] for r in rows]


# Where webhook -> Slack goes, per new group: each hop ends when the next service stamps the event it
# emits (grouping and the router stamp theirs when they process, the notifier when it takes the request).
HOPS = ("webhook -> grouped", "grouped -> routed", "routed -> notifier", "notifier -> Slack answered")


def hop_latencies(database_url: str, since: float) -> dict[str, list[float]] | None:
    """For the new groups first seen since `since` and notified: each hop's milliseconds; None while a
    read model trails (query-api's alerts may land after the Slack message: topics are read side by side)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM o.at - a.received_at), extract(epoch FROM n.requested_at - o.at), "
            "extract(epoch FROM d.started_at - n.requested_at), extract(epoch FROM n.finished_at - d.started_at) "
            "FROM query.groups g JOIN query.timeline o ON o.group_id = g.group_id AND o.kind = 'opened' "
            "JOIN query.notifications n ON n.group_id = g.group_id AND n.kind = 'new_group' AND n.status = 'delivered' "
            "JOIN notifier.deliveries d ON d.request_id = n.notification_id "
            "CROSS JOIN LATERAL (SELECT min(received_at) AS received_at FROM query.alerts "
            "                    WHERE workspace_id = g.workspace_id AND group_key = g.group_key) a "
            "WHERE g.workspace_id = 'bench' AND g.first_seen_at >= to_timestamp(%s)", (since,)).fetchall()
    if any(value is None for row in rows for value in row):
        return None
    return {hop: [float(row[i]) * 1000 for row in rows] for i, hop in enumerate(HOPS)}


# --- CPU and memory of the stack's processes ---

def stack_roots(stack: Stack) -> dict[str, int]:
    """The root process of each part of the stack (PostgreSQL's postmaster: its backends are its children)."""
    return stack.pids()


def broker_objects(stack: Stack) -> dict[str, int]:
    """Batch objects per topic in the embedded broker's bucket."""
    assert stack.broker.s3 is not None
    with Filer(stack.broker.s3.filer_url) as filer:
        return batch_object_counts(filer, BUCKET)


def retention_settle_seconds(stack: Stack) -> float:
    """Long enough for the broker's retention to delete what every group has read (80 s without one)."""
    retention = stack.options.broker_retention
    return retention.keep_seconds + 2 * retention.sweep_every_seconds if retention else 80.0


def trickle_window(url: str, roots: dict[str, int], rate: float, seconds: float) -> dict[str, Any]:
    """The stack's CPU while `rate` webhooks/s go to a few existing groups (debounced updates flow)."""
    window = CpuWindow(roots)
    sent = asyncio.run(open_loop(url, rate, paced_issues(rate, seconds, lambda n: str(2_800_000 + n % 5))))
    return {"rate_per_s": rate, "sent": sent["sent"], "ok": sent["ok"], **load_share(window.close())}


def in_total(name: str) -> bool:
    return name not in TEST_DOUBLES


class CpuWindow:
    """CPU seconds per process tree (and of this process and its reaped children) over a window."""

    def __init__(self, roots: Mapping[str, int]) -> None:
        self.roots = dict(roots)
        self.before = procstat.ticks_by_tree(procstat.snapshot(), self.roots)
        self.own_before, self.children_before = procstat.own_ticks()
        self.started = time.monotonic()

    def close(self) -> dict[str, Any]:
        after = procstat.ticks_by_tree(procstat.snapshot(), self.roots)
        own, children = procstat.own_ticks()
        wall = time.monotonic() - self.started
        seconds = procstat.seconds_between(self.before, after)
        return {"wall_s": wall, "by_process_s": seconds,
                "stack_s": sum(s for name, s in seconds.items() if in_total(name)),
                "driver_s": (own - self.own_before) / procstat.CLOCK_TICKS_PER_S,
                "reaped_children_s": (children - self.children_before) / procstat.CLOCK_TICKS_PER_S}


def rounded(values: Mapping[str, float], decimals: int) -> dict[str, float]:
    return {name: round(value, decimals) for name, value in sorted(values.items(), key=lambda kv: -kv[1])}


def load_share(cpu: Mapping[str, Any]) -> dict[str, Any]:
    """A window's CPU as percent of one core: the stack's total and per process."""
    wall = cpu["wall_s"]
    return {"seconds": round(wall, 1), "stack_core_percent": round(cpu["stack_s"] * 100 / wall, 1),
            "by_process_core_percent": rounded(procstat.core_percent(cpu["by_process_s"], wall), 1),
            "generator_core_percent": round(cpu["driver_s"] * 100 / wall, 1)}


# --- load generators ---

def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
    return shutil.which("wrk")


# Each wrk thread builds every body once from the shared pieces and pre-formats every request, so
# per request wrk only picks the next one.
WRK_SCRIPT = """
local pieces = {%(pieces)s}
local slots = {%(slots)s}
local values = {
%(values)s
}
local requests = {}
-- wrk calls init once per thread, after it has set the Host header that wrk.format copies in.
init = function(args)
  for i, v in ipairs(values) do
    local out = {pieces[1]}
    for k, name in ipairs(slots) do
      out[#out + 1] = v[name]
      out[#out + 1] = pieces[k + 1]
    end
    requests[i] = wrk.format("POST", nil, {["Content-Type"]="application/json", ["Sentry-Hook-Resource"]="event_alert",
                                           ["Sentry-Hook-Signature"]=v.sig}, table.concat(out))
  end
end
local counter = 0
request = function()
  counter = counter + 1
  return requests[(counter %% #requests) + 1]
end
done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.errors.status,
           summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
           latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    if "]==]" in text or text.startswith("\n"):
        raise ValueError("text does not fit a [==[ ]==] Lua string")
    return "[==[" + text + "]==]"


def write_wrk_script(path: Path, bodies: int, fingerprints: int) -> Path:
    """`bodies` distinct pre-signed bodies (no Request-ID, so each request is a new delivery) spread
    over `fingerprints` Sentry issues, i.e. that many distinct groups."""
    rows = []
    for n in range(bodies):
        body, values = make_body(str(1_000_000 + n % fingerprints))
        fields = ", ".join(f'{name}="{value}"' for name, value in values.items())
        rows.append(f'  {{{fields}, sig="{sign(body)}"}},')
    path.write_text(WRK_SCRIPT % {"pieces": ", ".join(lua_string(p) for p in PIECES),
                                  "slots": ", ".join(f'"{s}"' for s in SLOT_ORDER), "values": "\n".join(rows)})
    return path


def run_wrk(url: str, seconds: float, connections: int, script: Path) -> dict[str, Any]:
    """Closed-loop load for `seconds`; wrk's CPU comes from this process's reaped-children time."""
    _, children_before = procstat.own_ticks()
    started = time.monotonic()
    completed = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                                "-s", str(script), url], capture_output=True, text=True)
    wall = time.monotonic() - started
    _, children_after = procstat.own_ticks()
    output = completed.stdout + completed.stderr
    match = re.search(r"WRK_RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if not match:
        raise RuntimeError(f"wrk failed:\n{output}")
    requests, status_errors, socket_errors, p50_us, p99_us = map(int, match.groups())
    return {"requests": requests, "non_2xx": status_errors, "socket_errors": socket_errors, "wall_s": wall,
            "p50_ms": p50_us / 1000, "p99_ms": p99_us / 1000,
            "generator_cpu_s": (children_after - children_before) / procstat.CLOCK_TICKS_PER_S}


def paced_issues(rate: float, seconds: float, issue_for: Callable[[int], str]) -> list[str]:
    """The Sentry issue of each request of an open-loop phase, in order."""
    return [issue_for(n) for n in range(max(1, int(rate * seconds)))]


async def open_loop(url: str, rate: float, issues: list[str]) -> dict[str, Any]:
    """Fixed-rate load, one request per issue given: one every 1/rate s, whatever the answers;
    latency of each 2xx."""
    import aiohttp

    total = len(issues)
    bodies = []
    for issue in issues:
        body, _ = make_body(issue)
        bodies.append((body, sign(body)))
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(body: bytes, signature: str) -> None:
            nonlocal failures
            started = time.perf_counter()
            async with session.post(url, data=body, headers={
                "Content-Type": "application/json", "Sentry-Hook-Resource": "event_alert",
                "Sentry-Hook-Signature": signature}) as response:
                await response.read()
                if 200 <= response.status < 300:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1

        start = time.perf_counter()
        tasks = []
        for n, (body, signature) in enumerate(bodies):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, signature)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    return {"sent": total, "ok": len(latencies), "failed": failures, "wall_s": wall,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


# --- phases ---

def measure_ceiling(args: argparse.Namespace, script: Path, logs: Path) -> dict[str, Any]:
    """The bare HTTP layer under the same wrk load, bodies and connections, before the stack starts
    (so the idle stack does not take its CPU)."""
    port = free_port()
    app = ManagedProcess("ceiling", [sys.executable, str(CEILING_APP), "--port", str(port), "--secret", SECRET],
                         logs / "ceiling.log").start()
    try:
        wait_for_port(port, timeout=60)
        url = f"http://127.0.0.1:{port}/webhooks/sentry/ceiling"
        cpu = CpuWindow({"ceiling_app": app.pid})
        result = run_wrk(url, args.ceiling_seconds, args.connections, script)
        window = cpu.close()
    finally:
        app.stop()
    ok = result["requests"] - result["non_2xx"]
    if ok <= 0:
        raise RuntimeError(f"the ceiling app accepted nothing:\n{app.tail()}")
    return {"requests": result["requests"], "non_2xx": result["non_2xx"], "socket_errors": result["socket_errors"],
            "seconds": round(result["wall_s"], 1), "requests_per_s": round(ok / result["wall_s"]),
            "latency_p50_ms": result["p50_ms"], "latency_p99_ms": result["p99_ms"],
            "cpu_ms_per_request": {"ceiling_app": round(window["by_process_s"]["ceiling_app"] * 1000 / ok, 3),
                                   "wrk": round(result["generator_cpu_s"] * 1000 / ok, 3)}}


def git_commit() -> dict[str, Any]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


class PssSampler:
    """PSS per process tree every `interval` seconds, in a thread, while the load runs (wrk blocks)."""

    def __init__(self, roots: Mapping[str, int], interval: float) -> None:
        self._roots, self._interval = roots, interval
        self._stop = threading.Event()
        self._started = time.monotonic()
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append((round(time.monotonic() - self._started, 1), procstat.pss_mb_by_tree(self._roots)))


def stack_mb(pss: Mapping[str, float]) -> float:
    """The stack's PSS: every process tree but the test doubles."""
    return round(sum(v for n, v in pss.items() if in_total(n)), 1)


def pss_over_load(start: Mapping[str, float], samples: list[tuple[float, dict[str, float]]],
                  end: Mapping[str, float], seconds: float) -> dict[str, Any]:
    """The stack's PSS over the load, and each process's growth in its first and second half: a growth
    that stops within the first half is a cache or a pool filling, one that goes on is not."""
    series = [(0.0, dict(start)), *samples, (round(seconds, 1), dict(end))]
    middle = min(series, key=lambda point: abs(point[0] - seconds / 2))[1]

    return {"stack_mb": [[t, stack_mb(values)] for t, values in series],
            "by_process_mb": {n: [round(values.get(n, 0), 1) for _, values in series] for n in end},
            "first_half_growth_mb": {n: round(middle.get(n, 0) - v, 1) for n, v in start.items()},
            "second_half_growth_mb": {n: round(end.get(n, 0) - middle.get(n, 0), 1) for n in end},
            "stack_first_half_growth_mb": round(stack_mb(middle) - stack_mb(start), 1),
            "stack_second_half_growth_mb": round(stack_mb(end) - stack_mb(middle), 1)}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description="SignalCraft ingest benchmark")
    parser.add_argument("--ceiling-seconds", type=float, default=20, help="wrk against the bare FastAPI ceiling app")
    parser.add_argument("--idle-seconds", type=float, default=20, help="idle stack CPU window")
    parser.add_argument("--trickle-rate", type=float, default=2, help="webhooks/s for the low-load CPU window")
    parser.add_argument("--trickle-seconds", type=float, default=20)
    parser.add_argument("--sustain-seconds", type=float, default=20, help="wrk against ingest (600: the flat-memory check)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--fingerprints", type=int, default=2000,
                        help="distinct groups in the sustained phase (20000: the 10x linear-cost check)")
    parser.add_argument("--prefill-groups", type=int, default=0,
                        help="before the sustained phase, open this many other groups and let the pipeline drain "
                             "(18000: 10x the groups in every table with the sustained phase's mix unchanged)")
    parser.add_argument("--prefill-rate", type=float, default=250, help="webhooks/s while prefilling")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--rate-seconds", type=float, default=20)
    parser.add_argument("--slow-rate", type=float, default=50, help="second open-loop rate (0: skip)")
    parser.add_argument("--slow-rate-seconds", type=float, default=20)
    parser.add_argument("--new-group-every", type=int, default=20,
                        help="in the open-loop phases, 1 alert in N opens a group (20: the product's '100 alerts -> 5 groups')")
    parser.add_argument("--broker-retention-seconds", default="60",
                        help="how long batch objects every group has read stay in the embedded broker (`off`: all)")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data directory")
    args = parser.parse_args()
    if args.fingerprints < 1:
        parser.error("--fingerprints must be at least 1")

    if ensure_wrk() is None:
        sys.exit("wrk is not installed and could not be installed (apt-get install wrk)")
    root = Path(tempfile.mkdtemp(prefix="signalcraft-bench-"))
    cores = os.cpu_count() or 1
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_commit(), "options": vars(args),
        "machine": {"cores": cores, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "loadavg_start": loadavg()},
    }
    print(f"load average at start: {results['machine']['loadavg_start']}", flush=True)
    bodies = max(SUSTAINED_MIN_BODIES, args.fingerprints)
    script = write_wrk_script(root / "sentry.lua", bodies, args.fingerprints)

    print(f"0/6 ceiling: bare FastAPI + uvicorn (HMAC + JSON parse), wrk {args.connections} connections, "
          f"{args.ceiling_seconds:g}s ...", flush=True)
    results["ceiling"] = measure_ceiling(args, script, root / "logs")

    stack = Stack(StackOptions(root, broker_storage="s3", durable_postgres=True,
                               broker_retention=broker_retention_from(args.broker_retention_seconds)))
    results["broker_retention_seconds"] = args.broker_retention_seconds
    print(f"starting the durable stack in {root} ...", flush=True)
    stack.start()
    try:
        admin = AdminClient(stack.url("query-api"), stack.admin_token)
        admin.create_workspace("bench", "Bench", default_channel="#bench")
        admin.connect_slack("bench", "xoxb-bench", "bench-signing")
        # wrk cycles a fixed set of signed bodies as fast as it can: measure the pipeline, not the
        # per-integration rate limit or the replay guard (both have their own tests).
        integration = admin.add_integration("bench", "sentry", "Bench Sentry", secret=SECRET,
                                            options={"rate_limit_per_second": "0", "replay_window_seconds": "0"})
        url = integration["webhook_url"]
        probe, _ = make_body("999")
        wait_until(lambda: __import__("httpx").post(url, content=probe, headers={
            "Sentry-Hook-Signature": sign(probe), "Sentry-Hook-Resource": "event_alert"}).status_code == 202, 60,
            what="ingest ready")
        db, integration_id = stack.database_url, integration["integration_id"]
        wait_settled(db, "bench", stored_alerts(db, integration_id))
        roots = stack_roots(stack)

        # 1. idle
        print(f"1/6 idle stack CPU over {args.idle_seconds:g}s ...", flush=True)
        idle = CpuWindow(roots)
        time.sleep(args.idle_seconds)
        idle_cpu = idle.close()
        results["idle"] = load_share(idle_cpu)

        # 2. a trickle of webhooks to a few groups: the debounced updates flow
        print(f"2/6 {args.trickle_rate:g} webhooks/s over {args.trickle_seconds:g}s ...", flush=True)
        results["trickle"] = trickle_window(url, roots, args.trickle_rate, args.trickle_seconds)
        wait_settled(db, "bench", stored_alerts(db, integration_id))

        if args.prefill_groups:
            # Table size apart from the mix: with --fingerprints 20000 nearly every alert opens a group
            # (a post, a route, an escalation each); here the sustained phase is the default one, over
            # tables that already hold this many other groups.
            print(f"   prefill: {args.prefill_groups} other groups at {args.prefill_rate:g}/s, then drained ...", flush=True)
            started = time.monotonic()
            sent = asyncio.run(open_loop(url, args.prefill_rate, [str(5_000_000 + n) for n in range(args.prefill_groups)]))
            wait_settled(db, "bench", stored_alerts(db, integration_id))
            drained_s = time.monotonic() - started
            time.sleep(retention_settle_seconds(stack))  # the prefill's batch objects gone, as before the default run
            results["prefill"] = {"groups": args.prefill_groups, "sent": sent["sent"], "ok": sent["ok"],
                                  "until_drained_seconds": round(drained_s, 1),
                                  "batch_objects_after": broker_objects(stack)}

        # 3. sustained throughput, durable and grouped
        print(f"3/6 sustained load: wrk, {args.connections} connections, {args.sustain_seconds:g}s, "
              f"{args.fingerprints} fingerprints ...", flush=True)
        grouped_before = grouped_alerts(db, "bench")
        stored_before = stored_alerts(db, integration_id)
        pss_start = procstat.pss_mb_by_tree(roots)
        window = CpuWindow(roots)
        with PssSampler(roots, args.sustain_seconds / 10) as pss_samples:
            sustained = run_wrk(url, args.sustain_seconds, args.connections, script)
        pss_end = procstat.pss_mb_by_tree(roots)
        accepted = sustained["requests"] - sustained["non_2xx"]
        if accepted <= 0:
            raise RuntimeError(f"ingest accepted no webhook under load: {sustained}")
        wait_until(lambda: grouped_alerts(db, "bench") - grouped_before >= accepted, 600, interval=0.25,
                   what="every accepted alert grouped")
        drained = time.monotonic() - window.started
        stored = stored_alerts(db, integration_id)
        wait_settled(db, "bench", stored)
        cpu = window.close()
        idle_rate = {name: s / idle_cpu["wall_s"] for name, s in idle_cpu["by_process_s"].items()}
        net = {name: s - idle_rate.get(name, 0) * cpu["wall_s"] for name, s in cpu["by_process_s"].items()}
        generator_s = sustained["generator_cpu_s"]
        results["sustained"] = {
            "fingerprints": args.fingerprints, "distinct_bodies": bodies,
            "accepted_alerts": accepted, "non_2xx": sustained["non_2xx"], "socket_errors": sustained["socket_errors"],
            "load_seconds": round(sustained["wall_s"], 1), "until_all_grouped_seconds": round(drained, 1),
            "until_pipeline_idle_seconds": round(cpu["wall_s"], 1),
            "accept_rate_per_s": round(accepted / sustained["wall_s"]),
            "durable_and_grouped_rate_per_s": round(accepted / drained),
            "stored_in_postgres": stored - stored_before,
            "latency_p50_ms": sustained["p50_ms"], "latency_p99_ms": sustained["p99_ms"],
            "cpu_window_seconds": round(cpu["wall_s"], 1),
            "cpu_ms_per_alert": rounded(procstat.per_unit_ms(cpu["by_process_s"], accepted), 3),
            "cpu_ms_per_alert_net_of_idle": rounded(procstat.per_unit_ms(net, accepted), 3),
            "cpu_ms_per_alert_stack": round(cpu["stack_s"] * 1000 / accepted, 3),
            "cpu_ms_per_alert_stack_net_of_idle": round(sum(s for n, s in net.items() if in_total(n)) * 1000 / accepted, 3),
            "cpu_ms_per_alert_wrk": round(generator_s * 1000 / accepted, 3),
            "cpu_ms_per_alert_bench_driver": round(cpu["driver_s"] * 1000 / accepted, 3),
            "generator_core_percent": round(generator_s * 100 / sustained["wall_s"], 1),
            "pss_mb_start": rounded(pss_start, 1), "pss_mb_end": rounded(pss_end, 1),
            "pss_mb_stack_start": stack_mb(pss_start), "pss_mb_stack_end": stack_mb(pss_end),
            "pss_over_load": pss_over_load(pss_start, pss_samples.samples, pss_end, sustained["wall_s"]),
        }
        ceiling = results["ceiling"]["requests_per_s"]
        results["sustained"]["ratio_to_ceiling"] = {
            "durable_and_grouped": round(results["sustained"]["durable_and_grouped_rate_per_s"] / ceiling, 4),
            "accepted": round(results["sustained"]["accept_rate_per_s"] / ceiling, 4)}

        # 4. fixed rates: webhook 2xx latency and webhook -> Slack latency
        results["at_fixed_rate"] = {}
        grouped_issues: set[str] = set()  # of the open-loop phases: each phase waits for its new groups' messages
        pss_max: dict[str, float] = {}
        phases = [(args.rate, args.rate_seconds, "2")] + ([(args.slow_rate, args.slow_rate_seconds, "3")] if args.slow_rate else [])
        for rate, seconds, prefix in phases:
            print(f"4/6 open-loop load at {rate:g}/s for {seconds:g}s ...", flush=True)
            phase_start = time.time()
            issues = paced_issues(rate, seconds, lambda n: f"{prefix}{n:07d}" if n % args.new_group_every == 0
                                  else str(2_900_000 + n % 50))
            expected = len(set(issues) - grouped_issues)
            grouped_issues.update(issues)

            async def measure() -> dict[str, Any]:
                stop = asyncio.Event()

                async def sample_memory() -> None:
                    while not stop.is_set():
                        pss = await asyncio.to_thread(procstat.pss_mb_by_tree, roots)
                        total = sum(v for n, v in pss.items() if in_total(n))
                        pss_max["stack"] = max(pss_max.get("stack", 0.0), total)
                        await asyncio.sleep(1.0)

                sampler = asyncio.create_task(sample_memory())
                try:
                    return await open_loop(url, rate, issues)
                finally:
                    stop.set()
                    await sampler

            alert_path_urls = {name: stack.url(name) for name in hop_split.SERVICES}
            histograms_before = hop_split.scrape(alert_path_urls)
            own_before, _ = procstat.own_ticks()
            paced = asyncio.run(measure())
            own_after, _ = procstat.own_ticks()
            def all_delivered(since: float = phase_start, expected: int = expected) -> list[float] | None:
                found = slack_latencies(db, since)
                return found if len(found) >= expected else None

            slack = wait_until(all_delivered, 300, interval=0.5, what=f"{expected} Slack messages")
            results["at_fixed_rate"][f"{rate:g}"] = {
                "rate_per_s": rate, "sent": paced["sent"], "ok": paced["ok"], "failed": paced["failed"],
                "achieved_rate_per_s": round(paced["sent"] / paced["wall_s"]),
                "webhook_2xx_p50_ms": round(paced["p50_ms"], 2), "webhook_2xx_p99_ms": round(paced["p99_ms"], 2),
                "slack_messages": len(slack), "webhook_to_slack_p50_ms": round(percentile(slack, 50), 1),
                "webhook_to_slack_p99_ms": round(percentile(slack, 99), 1),
                "hops_p50_ms": {hop: round(percentile(ms, 50), 1) for hop, ms in wait_until(
                    lambda: hop_latencies(db, phase_start), 60, interval=0.5, what="every hop recorded").items() if ms},
                "generator_core_percent": round((own_after - own_before) / procstat.CLOCK_TICKS_PER_S * 100 / paced["wall_s"], 1),
                "hop_split_p50_ms": hop_split.hop_split(histograms_before, hop_split.scrape(alert_path_urls)),
            }
            wait_settled(db, "bench", stored_alerts(db, integration_id))

        # 5. memory
        print("5/6 memory ...", flush=True)
        results["memory"] = {"stack_pss_mb_max_open_loop": round(pss_max.get("stack", 0.0), 1),
                             "stack_pss_mb_end": stack_mb(procstat.pss_mb_by_tree(roots)),
                             "processes": procstat.process_count(roots.values())}

        # 6. the same idle and trickle windows once the load phases' history is in the broker: Tansu
        # on S3 lists a partition's every batch object per fetch, unless the retention deleted them.
        settle_s = retention_settle_seconds(stack)
        print(f"6/6 idle and {args.trickle_rate:g} webhooks/s again with the load phases' history, "
              f"after {settle_s:g}s ...", flush=True)
        time.sleep(settle_s)
        results["after_load"] = {"waited_seconds": settle_s, "batch_objects": broker_objects(stack)}
        idle_again = CpuWindow(roots)
        time.sleep(args.idle_seconds)
        results["after_load"]["idle"] = load_share(idle_again.close())
        results["after_load"]["trickle"] = trickle_window(url, roots, args.trickle_rate, args.trickle_seconds)
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    results["machine"]["loadavg_end"] = loadavg()
    results["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(summary(results, out))


def summary(results: Mapping[str, Any], out: Path) -> str:
    c, s, m, i, t = (results[k] for k in ("ceiling", "sustained", "machine", "idle", "trickle"))
    ceiling = c["requests_per_s"]
    git = results["git"]
    lines = [
        "",
        f"SignalCraft ingest benchmark ({m['cores']} cores; durable stack: Tansu on SeaweedFS S3, PostgreSQL fsync on)",
        f"  commit {(git['commit'] or 'unknown')[:12]}{' (uncommitted changes)' if git['dirty'] else ''}; "
        f"load average {m['loadavg_start'][0]} at start, {m['loadavg_end'][0]} at end",
        f"  ceiling, bare FastAPI + uvicorn (1 worker, HMAC + JSON parse, no storage): {number(ceiling)} requests/s "
        f"(wrk p50 {c['latency_p50_ms']:.1f} ms, p99 {c['latency_p99_ms']:.1f} ms; "
        f"CPU {c['cpu_ms_per_request']['ceiling_app']:.3f} ms/request, wrk {c['cpu_ms_per_request']['wrk']:.3f})",
        "  " + against_ceiling("sustained ingest, durable and grouped", s["durable_and_grouped_rate_per_s"], ceiling)
        + f"  ({number(s['accepted_alerts'])} alerts over {number(s['fingerprints'])} fingerprints"
          + (f", {number(results['prefill']['groups'])} other groups already open" if results.get("prefill") else "") + "; "
          f"all grouped {s['until_all_grouped_seconds']}s, pipeline idle {s['until_pipeline_idle_seconds']}s after load start)",
        "  " + against_ceiling("webhook 2xx under max load", s["accept_rate_per_s"], ceiling)
        + f"  (wrk p50 {s['latency_p50_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms; non-2xx {s['non_2xx']})",
    ]
    for rate in results["at_fixed_rate"].values():
        lines.append(f"  at {rate['rate_per_s']:g} alerts/s (open loop): webhook 2xx p50 {rate['webhook_2xx_p50_ms']} ms, "
                     f"p99 {rate['webhook_2xx_p99_ms']} ms ({rate['ok']}/{rate['sent']} ok); webhook -> Slack p50 "
                     f"{rate['webhook_to_slack_p50_ms']} ms, p99 {rate['webhook_to_slack_p99_ms']} ms over "
                     f"{rate['slack_messages']} messages; generator {rate['generator_core_percent']}% of a core")
        if rate.get("hops_p50_ms"):
            lines.append("      hops, p50: " + ", ".join(f"{hop} {ms:g} ms" for hop, ms in rate["hops_p50_ms"].items()))
        if rate.get("hop_split_p50_ms"):
            lines.append("      each hop split, p50 over all its records (ms): " + "; ".join(
                f"{hop}: relay {split['relay_p50_ms']}, broker {split['broker_p50_ms']}, batch {split['batch_p50_ms']}"
                for hop, split in rate["hop_split_p50_ms"].items()))
    lines.append(f"  CPU per alert over the sustained phase (load start -> pipeline idle, {s['cpu_window_seconds']}s), "
                 "and memory (PSS) at load start and end:")
    lines.append(f"      {'process':<26}{'ms/alert':>10}{'net of idle':>13}{'PSS start MB':>14}{'PSS end MB':>12}")
    for name, ms in s["cpu_ms_per_alert"].items():
        label = name + (" (test double)" if not in_total(name) else "")
        lines.append(f"      {label:<26}{ms:>10.3f}{s['cpu_ms_per_alert_net_of_idle'].get(name, float('nan')):>13.3f}"
                     f"{s['pss_mb_start'].get(name, float('nan')):>14.1f}{s['pss_mb_end'].get(name, float('nan')):>12.1f}")
    lines.append(f"      {'stack total':<26}{s['cpu_ms_per_alert_stack']:>10.3f}{s['cpu_ms_per_alert_stack_net_of_idle']:>13.3f}"
                 f"{s['pss_mb_stack_start']:>14.1f}{s['pss_mb_stack_end']:>12.1f}")
    lines.append(f"      {'wrk (load generator)':<26}{s['cpu_ms_per_alert_wrk']:>10.3f}   ({s['generator_core_percent']}% of a core)")
    lines.append(f"      {'bench driver':<26}{s['cpu_ms_per_alert_bench_driver']:>10.3f}   (polls PostgreSQL; its backends count under postgres)")

    def share(phase: Mapping[str, Any]) -> str:
        top = ", ".join(f"{n} {p}" for n, p in phase["by_process_core_percent"].items() if in_total(n))
        return f"{phase['stack_core_percent']}% of a core over {phase['seconds']}s ({top})"

    lines.append(f"  idle stack: {share(i)}")
    lines.append(f"  at {t['rate_per_s']:g} webhooks/s with group updates flowing: {share(t)}")
    if "after_load" in results:
        after = results["after_load"]
        objects = after["batch_objects"]
        lines.append(f"  after the load phases (broker retention {results.get('broker_retention_seconds')}, "
                     f"{after['waited_seconds']:g}s later): {sum(objects.values()):,} batch objects in the broker "
                     f"(largest topic {max(objects.values(), default=0):,})")
        lines.append(f"      idle stack: {share(after['idle'])}")
        lines.append(f"      at {after['trickle']['rate_per_s']:g} webhooks/s: {share(after['trickle'])}")
    mem = results["memory"]
    lines.append(f"  stack memory (PSS): {s['pss_mb_stack_start']} MB at sustained start, {s['pss_mb_stack_end']} MB at its end; "
                 f"max {mem['stack_pss_mb_max_open_loop']} MB during the open-loop phases; {mem['processes']} processes")
    if over := s.get("pss_over_load"):
        growth = sorted(over["second_half_growth_mb"].items(), key=lambda item: -item[1])[:4]
        lines.append("      over the sustained load (s: MB): " + ", ".join(f"{t:g}: {mb:,.0f}" for t, mb in over["stack_mb"]))
        lines.append(f"      growth in its first half {over['stack_first_half_growth_mb']:+,.0f} MB, second half "
                     f"{over['stack_second_half_growth_mb']:+,.0f} MB (most: "
                     + ", ".join(f"{n} {mb:+,.0f}" for n, mb in growth) + ")")
    lines.append(f"  written to {out}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
