"""Fault suite: faults injected under a steady stream of webhooks lose and duplicate nothing.

One durable stack (Tansu on SeaweedFS S3, PostgreSQL, fake Slack, the six services). In each case a
sender posts Sentry alerts for a few issues at a steady rate and, like a real sender, retries a
503, a 5xx or a connection error with backoff for a bounded time, then
(a) PostgreSQL is stopped for 10 s and started again,
(b) the S3 server under the broker is killed -9 and started again,
(c) every service in turn is killed -9 and started again,
(d) every service in turn gets SIGTERM (it must first fail readiness, drain and exit on its own) and
    is started again: a rolling restart.
Then every accepted (2xx) alert must be counted in its group, each group must have exactly one
top-level Slack message, and no message may have been dead-lettered. Each case prints what it
injected and what it counted.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import SERVICES, Stack

from .conftest import Tenant, make_tenant, start_stack
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e

ISSUES = 5  # one group each
RATE_PER_S = 5.0
RETRY_FOR_S = 90.0  # a sender gives up on an alert after retrying it this long
FLOWING = 10  # accepted alerts that show the stream flows, before a fault and again after it
# After SIGTERM a service answers /readyz 503 this long before it stops taking work: enough for
# the test to see it (Kubernetes would use a few seconds, for its endpoints to follow).
DRAIN_DELAY_S = "0.5"


@pytest.fixture(scope="module")
def faulty_stack() -> Iterator[Stack]:
    running = start_stack("s3", extra_env={
        # Count updates reach the read model within 1 s instead of 5: the same code, sooner settled.
        "SIGNALCRAFT_UPDATE_DEBOUNCE_SECONDS": "1",
        "SIGNALCRAFT_DRAIN_DELAY_SECONDS": DRAIN_DELAY_S,
    })
    yield running
    running.stop()


@dataclass
class Sender:
    """Sends rounds of one alert per issue at a steady rate; retries each alert like a real sender."""

    tenant: Tenant
    accepted: int = 0
    alerts: int = 0
    given_up: Counter[str] = field(default_factory=Counter)  # final answer of alerts not accepted
    retried: Counter[str] = field(default_factory=Counter)  # answers that made the sender retry
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            deliveries: list[asyncio.Task[None]] = []
            for round_ in itertools.count():
                if self._stop.is_set():
                    break
                for issue in range(ISSUES):  # whole rounds only: every issue gets as many alerts
                    body = event_alert(str(4_000_000 + issue))
                    deliveries.append(asyncio.create_task(self._deliver(client, body, uuid.uuid4().hex)))
                    self.alerts += 1
                    await asyncio.sleep(1 / RATE_PER_S)  # pacing, as a sender's traffic comes
            await asyncio.gather(*deliveries)

    async def _deliver(self, client: httpx.AsyncClient, body: bytes, request_id: str) -> None:
        """One alert, retried with the same Request-ID (so a repeat is recognised) until accepted."""
        deadline = time.monotonic() + RETRY_FOR_S
        for attempt in itertools.count():
            try:
                response = await send(client, self.tenant.webhook_url, self.tenant.secret, body, request_id=request_id)
                answer = f"rejected-{response.status_code}"
                if response.is_success:
                    async with self._progress:
                        self.accepted += 1
                        self._progress.notify_all()
                    return
                retry = response.status_code >= 500 or response.status_code == 429
            except httpx.TransportError as exc:
                answer, retry = f"connection-error ({type(exc).__name__})", True
            if not retry or time.monotonic() > deadline:
                self.given_up[answer] += 1
                return
            self.retried[answer] += 1
            await asyncio.sleep(min(2.0, 0.2 * 2 ** attempt))

    async def accepted_at_least(self, count: int, timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.accepted >= count)

    async def stop(self) -> None:
        self._stop.set()


@dataclass
class Counted:
    groups: list[dict]
    slack_per_group: Counter[str]
    dead_letters: int

    @property
    def alerts(self) -> int:
        return sum(g["count"] for g in self.groups)


def count(tenant: Tenant, accepted: int) -> Counted:
    """What the system shows once it has settled: groups and their counts, Slack, dead letters."""

    def settled() -> bool:
        groups = tenant.groups()
        return (len(groups) == ISSUES and sum(g["count"] for g in groups) >= accepted
                and len({m["ts"] for m in top_level(tenant)}) >= ISSUES
                and tenant.sql("SELECT count(*) FROM notifier.deliveries WHERE channel = %s AND state = 'sending'",
                               tenant.channel) == [(0,)])

    try:
        wait_until(settled, 90, interval=0.5, what="every accepted alert counted and notified")
    except TimeoutError:
        pass  # count what there is: the assertions say what is missing
    per_group = Counter(b["block_id"] for m in top_level(tenant) for b in m["blocks"] if b["type"] == "actions")
    dead = tenant.sql("SELECT count(*) FROM query.deadletters WHERE workspace_id IN (%s, 'unknown')",
                      tenant.workspace_id)[0][0]
    return Counted(tenant.groups(), per_group, dead)


def top_level(tenant: Tenant) -> list[dict]:
    return [m for m in tenant.slack_messages() if not m.get("thread_ts")]


async def under_stream(stack: Stack, inject: Callable[[], Awaitable[str]]) -> None:
    """Run `inject` while alerts flow, then check that nothing accepted was lost or doubled."""
    tenant = make_tenant(stack)
    sender = Sender(tenant)
    sending = asyncio.create_task(sender.run())
    try:
        await sender.accepted_at_least(FLOWING)
        injected = await inject()
        await sender.accepted_at_least(sender.accepted + FLOWING, timeout=90)  # it flows again
    finally:
        await sender.stop()
        await asyncio.wait_for(sending, RETRY_FOR_S + 30)
    counted = await asyncio.to_thread(count, tenant, sender.accepted)
    retried = ", ".join(f"{name} {n}" for name, n in sorted(sender.retried.items())) or "none"
    print(f"\ninjected: {injected}; alerts {sender.alerts}, accepted {sender.accepted}, retried: {retried}, "
          f"given up {sum(sender.given_up.values())} {dict(sender.given_up) or ''}, counted {counted.alerts}, "
          f"groups {len(counted.groups)}, slack messages {sum(counted.slack_per_group.values())}, "
          f"dead letters {counted.dead_letters}")
    tenant.admin.close()
    assert len(counted.groups) == ISSUES
    assert counted.alerts == sender.accepted, "accepted alerts missing from (or doubled in) their groups"
    assert set(counted.slack_per_group) == {f"signalcraft.group.{g['group_id']}" for g in counted.groups}
    assert max(counted.slack_per_group.values()) == 1, f"duplicate Slack messages: {counted.slack_per_group}"
    assert counted.dead_letters == 0
    # A sender retries 503 and connection errors; a known integration must never be refused for good.
    assert not sender.given_up, f"alerts never accepted: {dict(sender.given_up)}"


async def test_postgresql_down_for_10_seconds(faulty_stack: Stack) -> None:
    if faulty_stack.options.external_database_url:
        pytest.skip("the PostgreSQL server is not ours to stop")

    async def inject() -> str:
        started = time.monotonic()
        await asyncio.to_thread(faulty_stack.postgres.stop)
        await asyncio.sleep(10.0)  # the outage itself
        faulty_stack.postgres.start()  # same port, same data
        return f"PostgreSQL down {time.monotonic() - started:.1f} s"

    await under_stream(faulty_stack, inject)
    await asyncio.to_thread(wait_all_ready, faulty_stack)  # every service got over it by itself


async def test_s3_server_under_the_broker_killed(faulty_stack: Stack) -> None:
    s3 = faulty_stack.broker.s3
    assert s3 is not None and s3.process is not None

    async def inject() -> str:
        started = time.monotonic()
        s3.process.kill9()
        await asyncio.sleep(3.0)  # the outage itself: the broker keeps running on no storage
        s3.start()  # same ports, same data
        return f"SeaweedFS S3 killed -9, back after {time.monotonic() - started:.1f} s"

    await under_stream(faulty_stack, inject)
    await asyncio.to_thread(wait_all_ready, faulty_stack)


async def test_kill_9_of_every_service_in_turn(faulty_stack: Stack) -> None:
    async def inject() -> str:
        back_after: list[str] = []
        for name in SERVICES:
            started = time.monotonic()
            faulty_stack.kill9(name)
            faulty_stack.start_service(name)
            await asyncio.to_thread(faulty_stack.wait_ready, name)
            back_after.append(f"{name} {time.monotonic() - started:.1f} s")
        return f"kill -9 of each service in turn, ready again after: {', '.join(back_after)}"

    await under_stream(faulty_stack, inject)


async def test_rolling_sigterm_restart_of_every_service(faulty_stack: Stack) -> None:
    drains: dict[str, str] = {}

    async def inject() -> str:
        back_after: list[str] = []
        for name in SERVICES:
            started = time.monotonic()
            drains[name] = await asyncio.to_thread(sigterm_and_watch, faulty_stack, name)
            faulty_stack.start_service(name)
            await asyncio.to_thread(faulty_stack.wait_ready, name)
            back_after.append(f"{name} {time.monotonic() - started:.1f} s ({drains[name]})")
        return f"SIGTERM of each service in turn (readyz seen while it stopped), ready again after: {', '.join(back_after)}"

    await under_stream(faulty_stack, inject)
    for name, seen in drains.items():
        # Readiness fails first (503 while draining), then the port closes; never ready again meanwhile.
        statuses = seen.split(" -> ")
        assert "503" in statuses and "200" not in statuses[statuses.index("503"):], f"{name}: readiness seen {seen}"


def sigterm_and_watch(stack: Stack, name: str, timeout: float = 60.0) -> str:
    """SIGTERM `name`, watch its /readyz until it exits; the statuses seen, in order, as one string.

    It must exit by itself (uvicorn re-raises the SIGTERM it handled: exit status -15) within `timeout`.
    """
    process = stack.processes[name]
    assert process.popen is not None
    process.popen.send_signal(signal.SIGTERM)
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while process.alive() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{stack.url(name)}/readyz", timeout=1) as response:
                status = str(response.status)
        except urllib.error.HTTPError as exc:
            status = str(exc.code)
        except OSError:
            status = "closed"
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.05)  # a probe's period
    if process.alive():
        process.kill9()
        raise AssertionError(f"{name} did not exit within {timeout} s of SIGTERM:\n{process.tail(30)}")
    assert process.returncode in (0, -signal.SIGTERM), f"{name} exited {process.returncode}:\n{process.tail(30)}"
    return " -> ".join(seen)


def wait_all_ready(stack: Stack) -> None:
    for name in SERVICES:
        stack.wait_ready(name, timeout=60)
