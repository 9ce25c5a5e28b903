"""Escalation latency: from a level's deadline to the fake Slack receiving its call (issue 10).

Starts the real stack (Tansu, PostgreSQL, the six services, fake Slack), gives the default route a
one-level policy ("after 5s: @here in #bench"), opens N groups (default 120), and for every group
compares the escalator's deadline (escalator.timers.due_at) with the time the fake Slack received the
escalation reply (its `received_at`, wall clock of this machine). Prints p50/p99/max beside the same
run's ceilings: the escalator's timer tick (it looks for due timers every tick) and the jitter of a bare
asyncio.sleep on this machine. Prints, does not assert.

    .venv/bin/python -m bench.escalation_latency_bench [--groups 120] [--after 5s]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions

from .first_notification_bench import SECRET, headers, percentile, sentry_body

CHANNEL = "#bench-escalation"
TIMER_TICK_S = 1.0  # EscalatorSettings.timer_tick_seconds, the default the stack runs with


async def sleep_jitter(samples: int = 200, interval: float = 0.01) -> list[float]:
    late = []
    for _ in range(samples):
        start = time.monotonic()
        await asyncio.sleep(interval)
        late.append(time.monotonic() - start - interval)
    return late


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-bench-escalation-"))
    stack = Stack(StackOptions(root, broker_storage="memory", durable_postgres=False, log_format="console"))
    stack.start()
    try:
        admin = AdminClient(stack.url("query-api"), stack.admin_token)
        admin.create_workspace("bench", "Bench", default_channel=CHANNEL)
        admin.connect_slack("bench", "xoxb-bench", "bench-signing-secret")
        integration = admin.add_integration("bench", "sentry", "Sentry", secret=SECRET)
        policy = httpx.post(f"{stack.url('query-api')}/api/escalation-policies", timeout=30,
                            headers={"Authorization": f"Bearer {stack.admin_token}"},
                            json={"workspace_id": "bench", "name": "bench",
                                  "levels": [{"after": args.after, "targets": [CHANNEL]}]}).json()
        admin.create_workspace("bench", "Bench", default_channel=CHANNEL, escalation_policy_id=policy["policy_id"])
        hook = f"{stack.url('ingest')}/webhooks/sentry/{integration['integration_id']}"
        wait_until(lambda: httpx.post(hook, content=b"{}").status_code != 404, 30, what="ingest ready")
        async with httpx.AsyncClient(timeout=30) as client:
            for n in range(args.groups):
                body = sentry_body(f"esc-{n}")
                assert (await client.post(hook, content=body, headers=headers(body))).status_code == 202
        jitter = await sleep_jitter()

        def escalations() -> list[dict]:
            messages = httpx.get(f"{stack.slack_url}/_fake/messages", timeout=30).json()
            return [m for m in messages if m.get("thread_ts") and "Escalation" in m["text"]]
        wait_until(lambda: len(escalations()) >= args.groups, 300, interval=1.0, what="every escalation")
        with psycopg.connect(stack.database_url) as conn:
            due = {str(g): d.timestamp() for g, d in conn.execute(
                "SELECT group_id, due_at FROM escalator.timers WHERE kind = 'escalation'").fetchall()}
        latency = [m["received_at"] - due[m["metadata"]["event_payload"]["group_id"]] for m in escalations()]
        print(f"escalation deadline -> fake Slack receive, {len(latency)} timers (after {args.after}):")
        print(f"  p50 {percentile(latency, 0.5):.3f} s  p99 {percentile(latency, 0.99):.3f} s  "
              f"max {max(latency):.3f} s  mean {statistics.mean(latency):.3f} s")
        print(f"ceiling: timer tick {TIMER_TICK_S:.1f} s (a timer waits up to one tick to be seen); "
              f"bare asyncio.sleep jitter p50 {percentile(jitter, 0.5) * 1000:.2f} ms "
              f"p99 {percentile(jitter, 0.99) * 1000:.2f} ms")
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=120)
    parser.add_argument("--after", default="5s")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
