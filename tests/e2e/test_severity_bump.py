"""Severity bump on the real stack (issue 10.3): K alerts of a group within W in prod raise its severity
one level; the router routes it again, so a paging rule it now matches posts a first message with @here,
and its existing message gets a thread notice broadcast to the channel and shows the new severity."""

from __future__ import annotations

import secrets

import httpx
import pytest
from typer.testing import CliRunner

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import Stack
from signalcraft_query_api.cli import app

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e
K, WITHIN = 4, "10m"


@pytest.fixture
def bumping(stack: Stack) -> Tenant:
    """A workspace whose severity bump is 4 alerts within 10 m in prod (set through the API); the CLI
    sets the same on another workspace, and both read back alike."""
    tenant = make_tenant(stack, severity_bump={"count": K, "within": WITHIN})
    by_cli = f"ws-bump-{secrets.token_hex(4)}"
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}
    created = CliRunner().invoke(app, ["workspace", "create", "--name", "Bump", "--id", by_cli,
                                       "--bump-count", str(K), "--bump-within", WITHIN], env=env)
    assert created.exit_code == 0, created.output
    listed = {w["workspace_id"]: w for w in tenant.admin.get("/api/workspaces")}
    expected = {"count": K, "within_seconds": 600, "environments": ["prod"]}
    assert listed[tenant.workspace_id]["severity_bump"] == listed[by_cli]["severity_bump"] == expected
    return tenant


def thread_notices(tenant: Tenant, parent_ts: str) -> list[dict]:
    return [m for m in tenant.slack_messages() if m.get("thread_ts") == parent_ts and "Severity raised" in m["text"]]


async def test_k_alerts_within_w_raise_the_group_reroute_it_to_paging_and_notice_its_thread(bumping: Tenant) -> None:
    tenant = bumping
    page = f"{tenant.channel}-page"
    tenant.admin.add_rule(tenant.workspace_id, "page on high", page, position=1, conditions={"min_severity": "high"})
    async with httpx.AsyncClient(timeout=30) as client:
        # A Sentry warning is medium: the default channel takes it, the paging rule does not.
        assert (await send(client, tenant.webhook_url, tenant.secret, event_alert("8200001", level="warning"))).status_code == 202
        [first] = wait_until(lambda: tenant.slack_messages(), 60, what="the group's first message")
        assert first["channel"] == tenant.channel and "[MEDIUM]" in first["text"] and "<!here>" not in first["text"]
        for _ in range(K - 1):
            assert (await send(client, tenant.webhook_url, tenant.secret,
                               event_alert("8200001", level="warning"))).status_code == 202

    [group] = wait_until(lambda: [g for g in tenant.groups() if g["severity"] == "high"], 60, what="severity raised")
    assert group["count"] == K
    # Routed again: the paging rule's channel gets a first message, with @here (high).
    paged = wait_until(lambda: [m for m in tenant.slack_messages() if m["channel"] == page], 60, what="paging message")
    assert len(paged) == 1 and paged[0]["text"].startswith("<!here> [HIGH]") and not paged[0].get("thread_ts")
    # The existing message: a thread notice broadcast to the channel, @here, with the reason ...
    [notice] = wait_until(lambda: thread_notices(tenant, first["ts"]), 60, what="thread notice")
    assert notice["channel"] == tenant.channel and notice["reply_broadcast"] is True
    assert notice["text"].startswith(f"<!here> Severity raised to high: {K} alerts within 10m in prod")
    # ... and the message itself shows the new severity (rewritten in place).
    wait_until(lambda: any(m["ts"] == first["ts"] and "[HIGH]" in m["text"] for m in tenant.slack_messages()), 60,
               what="the first message rewritten as high")
    # The timeline shows the raise with its reason; nothing is raised twice.
    detail = tenant.admin.get(f"/api/alert-groups/{group['group_id']}")
    raises = [e for e in detail["timeline"] if e["kind"] == "severity_raised"]
    assert [(e["detail"]["from_severity"], e["detail"]["to_severity"], e["detail"]["reason"]) for e in raises] == [
        ("medium", "high", f"{K} alerts within 10m in prod")]
    top_level = [m for m in tenant.slack_messages() if not m.get("thread_ts")]
    assert sorted(m["channel"] for m in top_level) == sorted([tenant.channel, page])
