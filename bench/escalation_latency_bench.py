"""Escalation latency: from a level's deadline to the fake Slack receiving its call (issue 10).

Starts the real stack (Tansu, PostgreSQL, the six services, fake Slack), creates one one-level policy
("after 5s: <@UBENCHONCALL>") and, through /api/routing-rules, one routing rule per channel that sends
the groups tagged `bench_channel=c<k>` to `#bench-esc-<k>` and names that policy (`escalation_policy_id`);
the default route goes to `#bench-unrouted` with no policy, so a group the rules missed never
escalates, and the run stops saying so. It then opens N groups (default 120) spread round-robin over the
channels, and for every group compares the escalator's deadline (escalator.timers.due_at) with the time
the fake Slack received the escalation reply in the group's thread (its `received_at`, wall clock of this
machine), split at the start of the escalator transaction that fired it (the request's occurred_at, as the query
API projects it: query.notifications.requested_at) and where the notifier took the request
(notifier.deliveries.started_at).

The notifier paces thread replies at about one a second per channel (Slack's limit), so with
`--channels 1` the figure is that pacing (N replies ≈ N s), printed as the pacing floor; with one channel
per group (the default) it is the escalation path: timer loop, outbox, Kafka, notifier, Slack call.
Prints p50/p99/max beside the same run's ceilings (bare asyncio.sleep jitter, pacing floor)
and the load average. Prints, does not assert.

    .venv/bin/python -m bench.escalation_latency_bench [--groups 120] [--channels 120] [--after 5s]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions
from signalcraft_escalator.main import EscalatorSettings
from signalcraft_notifier.main import NotifierSettings

from .first_notification_bench import SECRET, headers, percentile, sentry_body

ONCALL = "<@UBENCHONCALL>"  # a person, not a channel: the level is one thread reply in the group's own channel
UNROUTED = "#bench-unrouted"  # the default route, no policy: a group no rule takes never escalates
TAG = "bench_channel"
# The defaults the stack runs with (it sets neither).
TIMER_LONGEST_WAIT_S = EscalatorSettings.model_fields["timer_longest_wait_seconds"].default
POSTS_PER_S = NotifierSettings.model_fields["slack_posts_per_second"].default
POST_BURST = NotifierSettings.model_fields["slack_post_burst"].default


def channel(k: int) -> str:
    return f"#bench-esc-{k:03d}"


def tagged_body(issue_id: str, shard: int) -> bytes:
    """The Sentry payload of issue `issue_id`, tagged for the rule of channel `shard`."""
    payload = json.loads(sentry_body(issue_id))
    payload["data"]["event"]["tags"].append([TAG, f"c{shard:03d}"])
    return json.dumps(payload).encode()


async def sleep_jitter(samples: int = 200, interval: float = 0.01) -> list[float]:
    late = []
    for _ in range(samples):
        start = time.monotonic()
        await asyncio.sleep(interval)
        late.append(time.monotonic() - start - interval)
    return late


def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 0.5):7.3f} s  p99 {percentile(values, 0.99):7.3f} s  "
            f"max {max(values):7.3f} s  mean {statistics.mean(values):7.3f} s")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f} (1/5/15 min, {os.cpu_count()} cores)"


async def run(args: argparse.Namespace) -> None:
    channels = args.channels or args.groups
    load_start = load()
    root = Path(tempfile.mkdtemp(prefix="signalcraft-bench-escalation-"))
    stack = Stack(StackOptions(root, broker_storage="memory", durable_postgres=False, log_format="console"))
    stack.start()
    try:
        api = stack.url("query-api")
        admin = AdminClient(api, stack.admin_token)
        admin.create_workspace("bench", "Bench", default_channel=UNROUTED)
        admin.connect_slack("bench", "xoxb-bench", "bench-signing-secret")
        integration = admin.add_integration("bench", "sentry", "Sentry", secret=SECRET)
        policy = httpx.post(f"{api}/api/escalation-policies", timeout=30,
                            headers={"Authorization": f"Bearer {stack.admin_token}"},
                            json={"workspace_id": "bench", "name": "bench",
                                  "levels": [{"after": args.after, "targets": [ONCALL]}]})
        policy.raise_for_status()
        for k in range(channels):
            admin.add_rule("bench", f"bench-{k:03d}", channel(k), position=k, conditions={"tags": {TAG: f"c{k:03d}"}},
                           escalation_policy_id=policy.json()["policy_id"])  # the rule's routes escalate with it
        hook = f"{stack.url('ingest')}/webhooks/sentry/{integration['integration_id']}"
        wait_until(lambda: httpx.post(hook, content=b"{}").status_code != 404, 30, what="ingest ready")
        # Saved (the API lists them); the router learns them from the config topic, so give it a moment:
        # a group routed before that lands in the default channel, and the run stops saying so.
        wait_until(lambda: len(admin.get("/api/routing-rules", workspace_id="bench")) == channels, 30,
                   what="rules saved")
        time.sleep(2)
        async with httpx.AsyncClient(timeout=30) as client:
            for n in range(args.groups):
                body = tagged_body(f"esc-{n}", n % channels)
                assert (await client.post(hook, content=body, headers=headers(body))).status_code == 202
        load_sent = load()
        jitter = await sleep_jitter()

        def escalations() -> list[dict]:
            messages = httpx.get(f"{stack.slack_url}/_fake/messages", timeout=30).json()
            if unrouted := [m for m in messages if m["channel"] == UNROUTED]:
                raise RuntimeError(f"{len(unrouted)} messages in the default channel: the rules missed those groups")
            return [m for m in messages if m.get("thread_ts") and "Escalation" in m["text"]]
        per_channel = math.ceil(args.groups / channels)
        wait_until(lambda: len(escalations()) >= args.groups, 180 + 3 * per_channel / POSTS_PER_S, interval=1.0,
                   what="every escalation")
        load_end = load()
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            def projected() -> dict[str, float] | None:
                fired = {str(g): f.timestamp() for g, f in conn.execute(
                    "SELECT group_id, requested_at FROM query.notifications WHERE kind = 'escalation'").fetchall()}
                return fired if len(fired) >= args.groups else None
            fired = wait_until(projected, 60, what="every escalation request projected")
            due = {str(g): d.timestamp() for g, d in conn.execute(
                "SELECT group_id, due_at FROM escalator.timers WHERE kind = 'escalation'").fetchall()}
            taken = {str(g): t.timestamp() for g, t in conn.execute(
                "SELECT group_id, started_at FROM notifier.deliveries WHERE kind = 'escalation'").fetchall()}
        replies = escalations()
        groups = [m["metadata"]["event_payload"]["group_id"] for m in replies]
        latency = [m["received_at"] - due[g] for m, g in zip(replies, groups, strict=True)]
        to_fire = [fired[g] - due[g] for g in groups]
        to_notifier = [taken[g] - fired[g] for g in groups]
        in_notifier = [m["received_at"] - taken[g] for m, g in zip(replies, groups, strict=True)]
        busiest = max(sum(1 for m in replies if m["channel"] == c) for c in {m["channel"] for m in replies})
        print(f"escalation deadline -> fake Slack receive: {len(latency)} timers over {channels} channel(s) "
              f"(busiest channel {busiest} replies), after {args.after}")
        print(f"  {'deadline -> Slack call':29}{summary(latency)}")
        print(f"  {'deadline -> timer loop fires':29}{summary(to_fire)}   (waiting for the escalator's timer loop)")
        print(f"  {'fired -> notifier takes':29}{summary(to_notifier)}   (the firing transaction, outbox relay, "
              "Kafka, consumer)")
        print(f"  {'notifier takes -> Slack':29}{summary(in_notifier)}   (reply lane, pacing, Slack call)")
        print(f"ceilings: the timer loop sleeps until the earliest timer is due, {TIMER_LONGEST_WAIT_S:.1f} s at "
              "most; "
              f"bare asyncio.sleep jitter p50 {percentile(jitter, 0.5) * 1000:.2f} ms "
              f"p99 {percentile(jitter, 0.99) * 1000:.2f} ms; pacing floor {busiest} replies in one channel at "
              f"{POSTS_PER_S:g}/s (burst {POST_BURST:g}) = {busiest / POSTS_PER_S:.0f} s for the last of them")
        print(f"load average: start {load_start}; groups sent {load_sent}; end {load_end}")
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=120)
    parser.add_argument("--channels", type=int, default=None,
                        help="spread the groups over this many channels, one routing rule each "
                             "(default: one per group; 1 shows the per-channel reply pacing)")
    parser.add_argument("--after", default="5s")
    args = parser.parse_args()
    if args.channels is not None and not 1 <= args.channels <= args.groups:
        parser.error("--channels must be between 1 and --groups")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
