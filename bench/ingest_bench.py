"""Ingest benchmark on the durable embedded stack (Tansu on SeaweedFS S3, PostgreSQL with fsync).

Prints, for this machine:
  1. sustained webhook ingest (alerts/s), counted only once every accepted alert is durable in
     PostgreSQL *and* grouped (summed from grouping's own state), with wrk as the load generator;
  2. once the sustained phase's backlog has drained everywhere (read models, debounced updates,
     Slack), at a fixed 500 alerts/s (open loop): webhook 2xx latency p50/p99, and webhook -> Slack call
     latency p50/p99 (recorded by the notifier when Slack answers, from the webhook's receipt);
  3. the resident memory (RSS) of the whole stack: services, broker, S3 server, PostgreSQL;
  4. the load generator's own CPU share, so its cost is visible next to the figures.

    make bench                      # defaults
    make bench BENCH_ARGS="--sustain-seconds 30 --rate 500 --rate-seconds 20"
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions

FIXTURE = Path(__file__).resolve().parent.parent / "tests/contract/fixtures/sentry/event-alert-triggered-docs.json"
SECRET = "bench-sentry-client-secret"


FIXTURE_PAYLOAD = json.loads(FIXTURE.read_text())


def make_body(issue_id: str) -> bytes:
    payload = copy.deepcopy(FIXTURE_PAYLOAD)  # read once; the bench makes thousands of bodies
    event = payload["data"]["event"]
    event["event_id"] = uuid.uuid4().hex
    event["issue_id"] = issue_id
    event["tags"] = [t for t in event["tags"] if t[0] != "environment"] + [["environment", "production"]]
    return json.dumps(payload).encode()


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def stack_processes(stack: Stack) -> list[psutil.Process]:
    """Every process of the stack: services, fake Slack, Tansu, weed, PostgreSQL and its backends."""
    pids = set(stack.pids().values())
    marker = str(stack.root)
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if marker in cmd:
            pids.add(proc.pid)
    for pid in list(pids):
        try:
            pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            pass
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            pass
    return found


def stack_memory_mb(stack: Stack) -> dict[str, float]:
    """RSS summed counts PostgreSQL's shared buffers once per backend; PSS shares them out fairly."""
    rss = pss = 0
    for proc in stack_processes(stack):
        try:
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return {"rss": rss / 2**20, "pss": pss / 2**20}


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
    """The latency phase must not start while the sustained phase's backlog still drains downstream
    (read models, debounced updates, Slack): wait until the pipeline stays idle for a few seconds."""
    quiet = 0

    def idle_long_enough() -> bool:
        nonlocal quiet
        quiet = quiet + 1 if pipeline_idle(database_url, workspace_id, alerts) else 0
        return quiet >= quiet_checks

    wait_until(idle_long_enough, 600, interval=1.0, what="the pipeline to drain")


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


WRK_SCRIPT = """
local bodies = {}
local sigs = {}
%s
local counter = 0
request = function()
  counter = counter + 1
  local i = (counter %% #bodies) + 1
  return wrk.format("POST", nil, {["Content-Type"]="application/json", ["Sentry-Hook-Resource"]="event_alert",
                                   ["Sentry-Hook-Signature"]=sigs[i]}, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.errors.status,
           summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
           latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(data: bytes) -> str:
    return "[==[" + data.decode() + "]==]"


def run_wrk(url: str, seconds: int, connections: int, distinct: int, issues: int, workdir: Path) -> dict[str, Any]:
    """Sustained load: wrk cycles through `distinct` pre-signed bodies (no Request-ID, so each is a new delivery)."""
    lines = []
    for n in range(distinct):
        body = make_body(str(1_000_000 + n % issues))
        lines.append(f"bodies[{n + 1}] = {lua_string(body)}\nsigs[{n + 1}] = \"{sign(body)}\"")
    script = workdir / "sentry.lua"
    script.write_text(WRK_SCRIPT % "\n".join(lines))
    proc = psutil.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.monotonic()
    cpu = 0.0
    while proc.poll() is None:
        try:
            t = proc.cpu_times()
            cpu = t.user + t.system
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.monotonic() - started
    output = proc.stdout.read() if proc.stdout else ""
    match = re.search(r"WRK_RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", output)
    if not match:
        raise RuntimeError(f"wrk failed:\n{output}")
    requests, status_errors, socket_errors, p50_us, p99_us = map(int, match.groups())
    return {"requests": requests, "non_2xx": status_errors, "socket_errors": socket_errors, "wall_s": wall,
            "p50_ms": p50_us / 1000, "p99_ms": p99_us / 1000, "generator_cpu_s": cpu, "raw": output}


async def open_loop(url: str, rate: float, seconds: float, new_group_every: int) -> dict[str, Any]:
    """Fixed-rate load: one request every 1/rate s, whatever the answers; latency of each 2xx."""
    import aiohttp

    total = int(rate * seconds)
    bodies = []
    for n in range(total):
        issue = f"2{n:07d}" if n % new_group_every == 0 else str(2_900_000 + n % 50)
        body = make_body(issue)
        bodies.append((body, sign(body)))
    latencies: list[float] = []
    failures = 0
    me = psutil.Process()
    cpu_before = sum(me.cpu_times()[:2])
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
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "generator_cpu_s": sum(me.cpu_times()[:2]) - cpu_before,
            "new_groups": len(range(0, total, new_group_every))}


def main() -> None:
    parser = argparse.ArgumentParser(description="SignalCraft ingest benchmark")
    parser.add_argument("--sustain-seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--rate-seconds", type=float, default=20)
    parser.add_argument("--new-group-every", type=int, default=20,
                        help="in the latency phase, 1 alert in N opens a group (20: the product's '100 alerts -> 5 groups')")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data directory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="signalcraft-bench-"))
    stack = Stack(StackOptions(root, broker_storage="s3", durable_postgres=True))
    results: dict[str, Any] = {"machine": {"cores": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)}}
    print(f"starting the durable stack in {root} ...", flush=True)
    stack.start()
    try:
        admin = AdminClient(stack.url("query-api"), stack.admin_token)
        admin.create_workspace("bench", "Bench", default_channel="#bench")
        admin.connect_slack("bench", "xoxb-bench", "bench-signing")
        integration = admin.add_integration("bench", "sentry", "Bench Sentry", secret=SECRET)
        url = integration["webhook_url"]
        probe = make_body("999")
        wait_until(lambda: __import__("httpx").post(url, content=probe, headers={
            "Sentry-Hook-Signature": sign(probe), "Sentry-Hook-Resource": "event_alert"}).status_code == 202, 60,
            what="ingest ready")

        # 1. sustained throughput, durable and grouped
        wrk = ensure_wrk()
        if wrk is None:
            sys.exit("wrk is not installed and could not be installed (apt-get install wrk)")
        baseline = grouped_alerts(stack.database_url, "bench")
        print(f"1/3 sustained load: wrk, {args.connections} connections, {args.sustain_seconds}s ...", flush=True)
        load_started = time.monotonic()
        sustained = run_wrk(url, args.sustain_seconds, args.connections, distinct=2000, issues=50, workdir=root)
        accepted = sustained["requests"] - sustained["non_2xx"]
        wait_until(lambda: grouped_alerts(stack.database_url, "bench") - baseline >= accepted, 600, interval=0.25,
                   what="every accepted alert grouped")
        drained = time.monotonic() - load_started
        durable = stored_alerts(stack.database_url, integration["integration_id"])
        wait_settled(stack.database_url, "bench", durable)
        settled = time.monotonic() - load_started
        results["sustained"] = {
            "accepted_alerts": accepted, "non_2xx": sustained["non_2xx"], "socket_errors": sustained["socket_errors"],
            "load_seconds": round(sustained["wall_s"], 1), "until_all_grouped_seconds": round(drained, 1),
            "until_pipeline_idle_seconds": round(settled, 1),
            "accept_rate_per_s": round(accepted / sustained["wall_s"]),
            "durable_and_grouped_rate_per_s": round(accepted / drained),
            "stored_in_postgres": durable - 1, "latency_p50_ms": sustained["p50_ms"], "latency_p99_ms": sustained["p99_ms"],
            "generator_cpu_share": round(sustained["generator_cpu_s"] / (sustained["wall_s"] * psutil.cpu_count()), 3),
        }

        # 2. fixed rate: 2xx latency and webhook -> Slack latency
        print(f"2/3 open-loop load at {args.rate:.0f}/s for {args.rate_seconds:.0f}s ...", flush=True)
        rss_samples: list[dict[str, float]] = []
        phase_start = time.time()

        async def measure() -> dict[str, Any]:
            sampler_stop = asyncio.Event()

            async def sample() -> None:
                while not sampler_stop.is_set():
                    rss_samples.append(await asyncio.to_thread(stack_memory_mb, stack))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample())
            try:
                return await open_loop(url, args.rate, args.rate_seconds, args.new_group_every)
            finally:
                sampler_stop.set()
                await sampler

        paced = asyncio.run(measure())
        expected = paced["new_groups"]

        def slack_latencies() -> list[float] | None:
            with psycopg.connect(stack.database_url) as conn:
                rows = conn.execute(
                    "SELECT n.latency_ms FROM query.notifications n JOIN query.groups g USING (group_id) "
                    "WHERE n.workspace_id = 'bench' AND n.kind = 'new_group' AND n.status = 'delivered' "
                    "AND g.first_seen_at >= to_timestamp(%s)", (phase_start,)).fetchall()
            return [r[0] for r in rows] if len(rows) >= expected else None

        slack = wait_until(slack_latencies, 300, interval=0.5, what=f"{expected} Slack messages")
        results["at_fixed_rate"] = {
            "rate_per_s": args.rate, "sent": paced["sent"], "ok": paced["ok"], "failed": paced["failed"],
            "achieved_rate_per_s": round(paced["sent"] / paced["wall_s"]),
            "webhook_2xx_p50_ms": round(paced["p50_ms"], 2), "webhook_2xx_p99_ms": round(paced["p99_ms"], 2),
            "slack_messages": len(slack), "webhook_to_slack_p50_ms": round(percentile(slack, 50), 1),
            "webhook_to_slack_p99_ms": round(percentile(slack, 99), 1),
            "generator_cpu_share": round(paced["generator_cpu_s"] / (paced["wall_s"] * psutil.cpu_count()), 3),
        }

        # 3. memory
        results["memory"] = {"stack_pss_mb_max": round(max(m["pss"] for m in rss_samples), 1),
                             "stack_rss_sum_mb_max": round(max(m["rss"] for m in rss_samples), 1),
                             "processes": len(stack_processes(stack))}
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    out_dir = Path(__file__).resolve().parent / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"ingest-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2))
    s, r, m = results["sustained"], results["at_fixed_rate"], results["memory"]
    print(f"""
SignalCraft ingest benchmark ({results['machine']['cores']} cores, durable stack: Tansu on SeaweedFS S3, PostgreSQL fsync on)
  sustained, durable + grouped : {s['durable_and_grouped_rate_per_s']} alerts/s  ({s['accepted_alerts']} alerts; all grouped {s['until_all_grouped_seconds']}s, pipeline idle {s['until_pipeline_idle_seconds']}s after load start; 2xx rate {s['accept_rate_per_s']}/s; non-2xx {s['non_2xx']})
      wrk latency under max load : p50 {s['latency_p50_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms; wrk CPU share {s['generator_cpu_share']:.1%}
  at {r['rate_per_s']:.0f} alerts/s (open loop)  : webhook 2xx p50 {r['webhook_2xx_p50_ms']} ms, p99 {r['webhook_2xx_p99_ms']} ms ({r['ok']}/{r['sent']} ok)
      webhook -> Slack call      : p50 {r['webhook_to_slack_p50_ms']} ms, p99 {r['webhook_to_slack_p99_ms']} ms over {r['slack_messages']} messages; generator CPU share {r['generator_cpu_share']:.1%}
  whole stack memory            : PSS max {m['stack_pss_mb_max']} MB over {m['processes']} processes (RSS summed: {m['stack_rss_sum_mb_max']} MB, counts shared buffers per backend)
  written to {out}
""")


if __name__ == "__main__":
    main()
