"""First notifications under a flood of rewrites (issue 9.4), on the embedded stack.

A replayed noisy day: many open groups keep firing, so each keeps asking for its message to be
rewritten (grouping's count updates, debounced to SIGNALCRAFT_UPDATE_DEBOUNCE_SECONDS), while the
fake Slack enforces Slack's Tier 3 limit on chat.update (50 a minute: 429 + Retry-After beyond it).
Meanwhile new groups open, some critical. Prints, for the new groups, the latency from sending the
webhook to the fake Slack receiving the first message (p50, p99, max), and what became of the
rewrites (requested, chat.update calls made, 429s, still queued). Exits 1 if p99 is over the target.

    .venv/bin/python -m bench.first_notification_bench                 # defaults: 60 s of replay
    .venv/bin/python -m bench.first_notification_bench --noisy-groups 256 --rate 100 --seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psycopg

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions

FIXTURE = Path(__file__).resolve().parents[1] / "tests/contract/fixtures/sentry/event-alert-triggered-docs.json"
SECRET = "bench-first-notification-secret"
CHANNEL = "#bench"
TITLE = re.compile(r"BenchError: issue (new-\d+) ")


def sentry_body(issue_id: str, level: str = "error") -> bytes:
    """The Sentry docs payload as one more event of issue `issue_id` (prod)."""
    payload = json.loads(FIXTURE.read_text())
    event = payload["data"]["event"]
    event["event_id"], event["issue_id"], event["level"] = uuid.uuid4().hex, issue_id, level
    event["title"] = f"BenchError: issue {issue_id}"
    event["tags"] = [t for t in event["tags"] if t[0] != "environment"] + [["environment", "production"]]
    return json.dumps(payload).encode()


def headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "Request-ID": uuid.uuid4().hex, "Sentry-Hook-Resource": "event_alert",
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Replay:
    def __init__(self, stack: Stack, hook: str, args: argparse.Namespace) -> None:
        self.stack, self.hook, self.args = stack, hook, args
        self.sent_at: dict[str, float] = {}  # new group's issue id -> when its webhook was sent
        self.statuses: list[int] = []

    async def post(self, client: httpx.AsyncClient, body: bytes) -> None:
        try:
            self.statuses.append((await client.post(self.hook, content=body, headers=headers(body))).status_code)
        except httpx.HTTPError:
            self.statuses.append(0)

    async def noisy(self, client: httpx.AsyncClient, until: float) -> None:
        """Open loop: `rate` alerts a second spread over the noisy groups."""
        tasks, n = [], 0
        while time.monotonic() < until:
            tasks.append(asyncio.create_task(self.post(client, sentry_body(f"noisy-{n % self.args.noisy_groups}"))))
            n += 1
            await asyncio.sleep(1 / self.args.rate)
        await asyncio.gather(*tasks)

    async def new_groups(self, client: httpx.AsyncClient, until: float) -> None:
        tasks, n = [], 0
        while time.monotonic() < until:
            issue = f"new-{n}"
            self.sent_at[issue] = time.time()
            level = "fatal" if n % 4 == 0 else "error"  # every fourth a critical
            tasks.append(asyncio.create_task(self.post(client, sentry_body(issue, level))))
            n += 1
            await asyncio.sleep(self.args.new_group_every)
        await asyncio.gather(*tasks)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            until = time.monotonic() + self.args.seconds
            await asyncio.gather(self.noisy(client, until), self.new_groups(client, until))


def first_messages(stack: Stack, sent_at: dict[str, float], timeout: float) -> dict[str, tuple[float, float]]:
    """Per new group: (webhook sent -> the fake Slack received its message, of which the notifier's
    part: from its `sending` row to Slack), in seconds."""
    def found() -> dict[str, dict[str, Any]]:
        messages = httpx.get(f"{stack.slack_url}/_fake/messages", params={"channel": CHANNEL}, timeout=30).json()
        first: dict[str, dict[str, Any]] = {}
        for m in messages:
            if not m.get("thread_ts") and (hit := TITLE.search(m["text"])) and hit.group(1) in sent_at:
                first.setdefault(hit.group(1), m)
        return first

    with suppress(TimeoutError):
        wait_until(lambda: len(found()) == len(sent_at), timeout, interval=1.0, what="every new group's message")
    messages = found()
    with psycopg.connect(stack.database_url) as conn:
        started = {str(g): at.timestamp() for g, at in conn.execute(
            "SELECT group_id, started_at FROM notifier.deliveries WHERE kind = 'new_group'").fetchall()}
    return {issue: (m["received_at"] - sent_at[issue],
                    m["received_at"] - started.get(m["metadata"]["event_payload"]["group_id"], m["received_at"]))
            for issue, m in messages.items()}


def rewrite_figures(stack: Stack) -> dict[str, Any]:
    calls = httpx.get(f"{stack.slack_url}/_fake/calls", timeout=10).json()
    with psycopg.connect(stack.database_url) as conn:
        kinds = dict(conn.execute("SELECT kind, count(*) FROM notifier.deliveries GROUP BY kind").fetchall())
        queued = conn.execute("SELECT count(*) FROM notifier.rewrites").fetchone()[0]
        replies = conn.execute("SELECT count(*) FROM notifier.replies").fetchone()[0]
        waiting = conn.execute("SELECT count(*) FROM notifier.deliveries d WHERE state = 'queued' AND NOT EXISTS "
                               "(SELECT 1 FROM notifier.replies r WHERE r.request_id = d.request_id)").fetchone()[0]
    return {"requests": kinds, "chat.update calls": calls.get("chat.update", 0),
            "chat.postMessage calls": calls.get("chat.postMessage", 0), "messages queued for a rewrite": queued,
            "rewrite requests not yet answered": waiting, "thread replies waiting in the reply lane": replies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noisy-groups", type=int, default=150, help="groups that keep firing (rewrites)")
    parser.add_argument("--rate", type=float, default=60, help="noisy alerts per second")
    parser.add_argument("--new-group-every", type=float, default=0.5, help="seconds between new groups")
    parser.add_argument("--seconds", type=float, default=60, help="length of the replay")
    parser.add_argument("--debounce", type=float, default=1.0, help="grouping's update debounce (s)")
    parser.add_argument("--update-limit", type=int, default=50, help="fake Slack's chat.update calls per minute")
    parser.add_argument("--target-p99", type=float, default=2.0)
    parser.add_argument("--storage", choices=("memory", "s3"), default="memory")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="signalcraft-first-notification-"))
    stack = Stack(StackOptions(root, broker_storage=args.storage, durable_postgres=args.storage == "s3",
                               log_format="console",
                               # A replayed day from many senders: no per-integration webhook rate limit.
                               extra_env={"SIGNALCRAFT_UPDATE_DEBOUNCE_SECONDS": str(args.debounce),
                                          "SIGNALCRAFT_WEBHOOK_RATE_PER_SECOND": "0"}))
    try:
        stack.start()
        admin = AdminClient(stack.url("query-api"), stack.admin_token)
        admin.create_workspace("bench", "Bench", default_channel=CHANNEL)
        admin.connect_slack("bench", "xoxb-bench", "bench-signing")
        integration = admin.add_integration("bench", "sentry", "Bench Sentry", secret=SECRET)
        hook = f"{stack.url('ingest')}/webhooks/sentry/{integration['integration_id']}"
        wait_until(lambda: httpx.post(hook, content=b"{}").status_code != 404, 60, what="ingest knowing the integration")
        httpx.post(f"{stack.slack_url}/_fake/configure", json={"rate_limits": {"chat.update": args.update_limit}},
                   timeout=10).raise_for_status()
        replay = Replay(stack, hook, args)
        print(f"opening {args.noisy_groups} noisy groups...", flush=True)
        asyncio.run(open_noisy(replay))
        wait_until(lambda: len(httpx.get(f"{stack.slack_url}/_fake/messages", params={"channel": CHANNEL},
                                         timeout=30).json()) >= args.noisy_groups, 120, interval=1.0,
                   what="the noisy groups' messages")
        print(f"replaying {args.seconds:.0f}s: {args.rate:.0f} noisy alerts/s over {args.noisy_groups} groups "
              f"(debounce {args.debounce}s), a new group every {args.new_group_every}s, "
              f"chat.update limited to {args.update_limit}/min", flush=True)
        asyncio.run(replay.run())
        latencies = first_messages(stack, replay.sent_at, timeout=60)
        report(args, replay, latencies, rewrite_figures(stack))
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


async def open_noisy(replay: Replay) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            async with gate:
                await replay.post(client, sentry_body(f"noisy-{n}"))

        await asyncio.gather(*(one(n) for n in range(replay.args.noisy_groups)))


def report(args: argparse.Namespace, replay: Replay, latencies: dict[str, tuple[float, float]],
           rewrites: dict[str, Any]) -> None:
    print(f"\nwebhooks sent: {len(replay.statuses)}, by status: {dict(sorted(Counter(replay.statuses).items()))}")
    for name, value in rewrites.items():
        print(f"{name}: {value}")
    values = [total for total, _ in latencies.values()]
    missing = len(replay.sent_at) - len(values)
    if not values:
        print("no first notification arrived")
        sys.exit(1)
    p99 = percentile(values, 0.99)
    notifier = [part for _, part in latencies.values()]
    print(f"first notifications: {len(values)} of {len(replay.sent_at)} new groups; webhook -> Slack latency "
          f"p50 {statistics.median(values):.3f}s  p99 {p99:.3f}s  max {max(values):.3f}s (target p99 <= {args.target_p99}s)")
    print(f"  of which in the notifier (its `sending` row -> Slack): p50 {statistics.median(notifier):.3f}s  "
          f"p99 {percentile(notifier, 0.99):.3f}s  max {max(notifier):.3f}s")
    if missing or p99 > args.target_p99:
        print("FAILED: " + (f"{missing} first notifications missing" if missing else f"p99 {p99:.3f}s over target"))
        sys.exit(1)


if __name__ == "__main__":
    main()
