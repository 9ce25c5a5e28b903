"""kill -9 in the middle of a stream: no alert lost, no Slack message twice.

Grouping and notifier are killed while alerts flow and restarted; separately, the durable broker
(Tansu on SeaweedFS S3) is killed and restarted. Every accepted webhook must end up counted in its
group, and every group must have exactly one Slack message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import SERVICES, Stack

from .conftest import Tenant, make_tenant, start_stack
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e


async def stream(tenant: Tenant, issues: int, per_issue: int, rate_per_s: float) -> list[int]:
    """Send issues*per_issue alerts at a steady rate; return the HTTP statuses."""
    bodies = [event_alert(str(3_000_000 + (i % issues))) for i in range(issues * per_issue)]
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=60) as client:
        pending = []
        for body in bodies:
            pending.append(asyncio.create_task(send(client, tenant.webhook_url, tenant.secret, body)))
            await asyncio.sleep(1 / rate_per_s)
        for response in await asyncio.gather(*pending):
            statuses.append(response.status_code)
    return statuses


async def _offsets(bootstrap_servers: str, topics: dict[str, list[str]]) -> list[str]:
    """Each consumer group's committed offset beside the broker's end offset, per partition.

    Tansu's end offset (ListOffsets latest) may trail the last record by a batch, so a committed
    offset a little above it is normal; one well below it is a consumer that is behind."""
    lines = []
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None, request_timeout_ms=10_000)
    await probe.start()
    try:
        for group, names in topics.items():
            tps = [TopicPartition(t, p) for t in names for p in sorted(probe.partitions_for_topic(t) or ())]
            ends = await probe.end_offsets(tps)
            # A group member that never subscribes: it only asks the coordinator for the group's offsets.
            reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False,
                                      request_timeout_ms=10_000)
            await reader.start()
            try:
                lines += [f"{group} {tp.topic}:{tp.partition} committed={await reader.committed(tp)} end={ends[tp]}"
                          for tp in tps]
            finally:
                await reader.stop()
    finally:
        await probe.stop()
    return lines


def pipeline_report(tenant: Tenant) -> str:
    """Where the tenant's alerts are on their way to the read model, stage by stage: what a timeout
    in these tests must show, since no service logs anything while it merely waits for records."""
    stack, ws = tenant.stack, tenant.workspace_id
    report: list[str] = [f"broker alive: {stack.broker.process is not None and stack.broker.process.alive()}"]
    for what, query in (
        ("ingest outbox rows (not yet on the broker)", "SELECT count(*) FROM ingest.outbox"),
        ("grouping: alerts counted in heads",
         "SELECT coalesce(sum((snapshot->>'count')::int), 0) FROM grouping.group_heads WHERE workspace_id = %s"),
        ("grouping: counts published",
         "SELECT coalesce(sum(published_count), 0) FROM grouping.group_heads WHERE workspace_id = %s"),
        ("grouping outbox rows", "SELECT count(*) FROM grouping.outbox"),
        ("query-api: alerts projected", "SELECT count(*) FROM query.alerts WHERE workspace_id = %s"),
    ):
        try:
            rows = tenant.sql(query, ws) if "%s" in query else tenant.sql(query)
            report.append(f"{what}: {rows[0][0]}")
        except Exception as exc:  # a report, not a check: show what could not be read
            report.append(f"{what}: {exc!r}")
    for name in SERVICES:
        try:
            with urllib.request.urlopen(f"{stack.url(name)}/readyz", timeout=5) as response:
                report.append(f"{name} /readyz: {response.read().decode()[:600]}")
        except Exception as exc:
            report.append(f"{name} /readyz: {exc!r}")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # we are inside the test's event loop
            report += pool.submit(asyncio.run, _offsets(stack.broker.bootstrap_servers, {
                "grouping": ["alerts.normalized"], "query-api": ["alerts.normalized", "groups.events"],
            })).result(timeout=60)
    except Exception as exc:
        report.append(f"offsets: {exc!r}")
    return "\n".join(report)


def assert_every_alert_grouped_and_notified_once(tenant: Tenant, issues: int, per_issue: int) -> None:
    seen: dict[str, Any] = {}

    def complete() -> list[dict] | None:
        groups = tenant.groups()
        seen.update(groups=len(groups), alerts=sum(g["count"] for g in groups))
        return groups if len(groups) == issues and sum(g["count"] for g in groups) == issues * per_issue else None

    try:
        groups = wait_until(complete, 120, what=f"{issues * per_issue} alerts in {issues} groups")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the read model last showed {seen}\n{pipeline_report(tenant)}") from None
    assert sorted(g["count"] for g in groups) == [per_issue] * issues
    wait_until(lambda: len(tenant.slack_messages()) >= issues, 120, what=f"{issues} Slack messages")
    # Redeliveries after the crash would show up as extra messages now, if any were to come.
    wait_until(lambda: tenant.sql("SELECT count(*) FROM notifier.deliveries WHERE channel = %s AND state = 'sending'",
                                  tenant.channel) == [(0,)], 60, what="no delivery left half-done")
    messages = tenant.slack_messages()
    per_group = Counter(b["block_id"] for m in messages for b in m["blocks"] if b["type"] == "actions")
    assert set(per_group) == {f"signalcraft.group.{g['group_id']}" for g in groups}
    assert max(per_group.values()) == 1, f"duplicate Slack messages: {per_group.most_common(3)}"
    assert len(messages) == issues


async def test_kill_9_grouping_and_notifier_mid_stream_loses_and_duplicates_nothing(stack: Stack) -> None:
    tenant = make_tenant(stack)
    # Slow Slack a little so that the notifier is killed with calls in flight.
    httpx.post(f"{stack.slack_url}/_fake/configure", json={"delay_ms": 40}).raise_for_status()
    try:
        sending = asyncio.create_task(stream(tenant, issues=30, per_issue=10, rate_per_s=60))
        await asyncio.sleep(1.5)
        stack.kill9("grouping")
        await asyncio.sleep(1.0)
        stack.kill9("notifier")
        stack.start_service("grouping")
        stack.start_service("notifier")
        statuses = await sending
        await asyncio.to_thread(stack.wait_ready, "grouping")
        await asyncio.to_thread(stack.wait_ready, "notifier")
        assert statuses == [202] * 300  # ingest never stopped accepting
        assert_every_alert_grouped_and_notified_once(tenant, issues=30, per_issue=10)
    finally:
        httpx.post(f"{stack.slack_url}/_fake/configure", json={"delay_ms": 0})
        tenant.admin.close()


async def restart_when_crashed(stack: Stack, name: str, exits: dict[str, int]) -> None:
    """Wait for `name` to die at its crash point, note its exit code, restart it without the fault."""
    process = stack.processes[name]
    while process.alive():
        await asyncio.sleep(0.05)
    assert process.popen is not None
    exits[name] = process.popen.returncode
    stack.start_service(name)


async def test_a_crash_after_commit_and_before_the_offset_commit_loses_and_duplicates_nothing(stack: Stack) -> None:
    """Deterministic twin of the kill -9 test: the crash lands exactly in the window that matters.

    grouping exits after committing the batch that brings it to 40 alerts but before committing its
    offsets, so that batch is redelivered; the notifier exits after Slack accepted the batch that brings
    it to 5 messages and before recording them, so the restarted notifier must find those messages (by
    their metadata) instead of posting again. Counted in records, so however the alerts fall into
    batches, both crashes happen.
    """
    tenant = make_tenant(stack)
    exits: dict[str, int] = {}
    for name in ("grouping", "notifier"):
        stack.processes[name].stop()
        stack.start_service(name, extra_env={"SIGNALCRAFT_CRASH_AFTER_RECORDS": "40" if name == "grouping" else "5"})
    try:
        await asyncio.gather(*(asyncio.to_thread(stack.wait_ready, name) for name in ("grouping", "notifier")))
        watchers = [asyncio.create_task(restart_when_crashed(stack, name, exits)) for name in ("grouping", "notifier")]
        statuses = await stream(tenant, issues=15, per_issue=10, rate_per_s=40)
        await asyncio.wait_for(asyncio.gather(*watchers), timeout=120)
        assert exits == {"grouping": 137, "notifier": 137}  # both crashed at their crash point
        await asyncio.to_thread(stack.wait_ready, "grouping")
        await asyncio.to_thread(stack.wait_ready, "notifier")
        assert statuses == [202] * 150
        assert_every_alert_grouped_and_notified_once(tenant, issues=15, per_issue=10)
        recovered = tenant.sql("SELECT count(*) FROM notifier.deliveries WHERE channel = %s AND kind = 'new_group'",
                               tenant.channel)
        assert recovered == [(15,)]
    finally:
        # Whatever happened, later tests share this stack: give them both services without the fault.
        for name in ("grouping", "notifier"):
            stack.processes[name].stop()
            stack.start_service(name)
        for name in ("grouping", "notifier"):
            await asyncio.to_thread(stack.wait_ready, name)
        tenant.admin.close()


@pytest.fixture(scope="module")
def durable_stack() -> Iterator[Stack]:
    running = start_stack("s3")
    yield running
    running.stop()


async def test_kill_9_of_the_durable_broker_mid_stream_loses_and_duplicates_nothing(durable_stack: Stack) -> None:
    tenant = make_tenant(durable_stack)
    sending = asyncio.create_task(stream(tenant, issues=20, per_issue=10, rate_per_s=50))
    await asyncio.sleep(1.5)
    durable_stack.broker.kill9()
    await asyncio.sleep(2.0)  # webhooks keep arriving: ingest stores them in PostgreSQL meanwhile
    durable_stack.broker.start_broker_only()
    statuses = await sending
    assert statuses == [202] * 200
    assert_every_alert_grouped_and_notified_once(tenant, issues=20, per_issue=10)
    tenant.admin.close()
