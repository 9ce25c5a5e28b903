"""End-to-end fixtures: the real system (Tansu broker, PostgreSQL, six service processes, fake
Slack over HTTP), started by the tests. Each test works in its own workspace and Slack channel, so
tests share one stack without cleaning up (Cosmic Python's random refs)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions

pytestmark = pytest.mark.e2e


def start_stack(storage: str, extra_env: dict[str, str] | None = None) -> Stack:
    root = Path(tempfile.mkdtemp(prefix=f"signalcraft-e2e-{storage}-"))
    stack = Stack(StackOptions(
        root, broker_storage=storage, durable_postgres=False, log_format="console",  # type: ignore[arg-type]
        external_database_url=os.environ.get("SIGNALCRAFT_TEST_DATABASE_URL"), extra_env=dict(extra_env or {}),
    ))
    try:
        stack.start()
    except Exception:
        stack.stop()
        for log in sorted((root / "logs").glob("*.log")):
            print(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        raise
    return stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing end-to-end test shows the tail of every service's log: CI keeps nothing else."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        stacks = {id(v): v for v in funcargs.values() if isinstance(v, Stack)}
        stacks.update({id(v.stack): v.stack for v in funcargs.values() if isinstance(v, Tenant)})
        for running in stacks.values():
            for log in sorted(running.logs.glob("*.log")):
                lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"log {log.name} (last {len(lines)} lines)", "\n".join(lines)))
    return report


LOG_TAIL_LINES = 40


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The fast stack: Tansu on memory:// storage (no broker kill here)."""
    running = start_stack("memory")
    yield running
    running.stop()


@dataclass
class Tenant:
    """One test's workspace: its Sentry integration, Slack channel and clients."""

    stack: Stack
    workspace_id: str
    channel: str
    integration_id: str
    secret: str
    admin: AdminClient

    @property
    def webhook_url(self) -> str:
        return f"{self.stack.url('ingest')}/webhooks/sentry/{self.integration_id}"

    def api(self, path: str, **params: Any) -> Any:
        return self.admin.get(path, workspace_id=self.workspace_id, **params)

    def slack_messages(self) -> list[dict[str, Any]]:
        messages = httpx.get(f"{self.stack.slack_url}/_fake/messages", timeout=10).json()
        return [m for m in messages if m["channel"].startswith(self.channel)]

    def groups(self) -> list[dict[str, Any]]:
        return self.api("/api/alert-groups", limit=500)["items"]

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.database_url) as conn:
            return conn.execute(query, params).fetchall()


def wait_settled(read: Callable[[], Any], timeout: float, gap: float, what: str) -> Any:
    """`read()` once two reads `gap` seconds apart agree: whatever feeds it has caught up."""
    last: list[Any] = [object()]

    def settled() -> Any:
        now, previous = read(), last[0]
        last[0] = now
        return now if now == previous else None

    return wait_until(settled, timeout, interval=gap, what=what)


# Workspaces whose read-model rows a test wrote straight into query-api's tables (a seeded scenario):
# those rows never travelled on a topic, so a rebuild by replay rightly drops them.
SEEDED_BY_SQL: set[str] = set()


def make_tenant(stack: Stack, wait_for_ingest: bool = True, **workspace: Any) -> Tenant:
    suffix = secrets.token_hex(4)
    workspace_id, channel = f"ws-{suffix}", f"#t-{suffix}"
    admin = AdminClient(stack.url("query-api"), stack.admin_token)
    admin.create_workspace(workspace_id, f"Test {suffix}", default_channel=channel, **workspace)
    admin.connect_slack(workspace_id, "xoxb-test-token", "test-signing-secret")
    secret = f"sentry-secret-{suffix}"
    created = admin.add_integration(workspace_id, "sentry", "Sentry", secret=secret)
    tenant = Tenant(stack, workspace_id, channel, created["integration_id"], secret, admin)
    if not wait_for_ingest:
        return tenant
    # Ingest learns integrations from the config topic: wait until it knows this one (401, not 404).
    wait_until(lambda: httpx.post(tenant.webhook_url, content=b"{}").status_code != 404, 30,
               what="ingest knowing the new integration")
    return tenant


@pytest.fixture
def tenant(stack: Stack) -> Iterator[Tenant]:
    created = make_tenant(stack)
    yield created
    created.admin.close()
