"""A group fanned out to two routes (issue 10.4, a rule's `continue`) on the real stack, fake Slack: a
message in each route's channel, each receiving its own route's escalation notice in its own thread,
and each rewritten when the group is acknowledged; never a third top-level message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import Stack

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e


def call(tenant: Tenant, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(method, f"{tenant.stack.url('query-api')}{path}", json=body or None, timeout=30,
                             headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def top_level(tenant: Tenant, channel: str) -> list[dict[str, Any]]:
    return [m for m in tenant.slack_messages() if m["channel"] == channel and not m.get("thread_ts")]


def replies_under(tenant: Tenant, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in tenant.slack_messages() if m["channel"] == message["channel"] and m.get("thread_ts") == message["ts"]]


async def test_each_route_of_a_fanned_out_group_has_its_own_message_thread_and_rewrites(stack: Stack) -> None:
    tenant = make_tenant(stack)
    prod, pager = f"{tenant.channel}-prod", f"{tenant.channel}-pager"
    policy = call(tenant, "POST", "/api/escalation-policies", workspace_id=tenant.workspace_id, name="fast",
                  levels=[{"after": "2s", "targets": ["<@UONCALL>"]}])["policy_id"]
    tenant.admin.add_rule(tenant.workspace_id, "all prod", prod, position=10, mention="none",
                          conditions={"matchers": ['environment="prod"']}, escalation_policy_id=policy,
                          **{"continue": True})
    tenant.admin.add_rule(tenant.workspace_id, "paging", pager, position=20, mention="none",
                          conditions={"matchers": ['severity=~"high|critical"']}, escalation_policy_id=policy)

    async with httpx.AsyncClient(timeout=30) as client:
        assert (await send(client, tenant.webhook_url, tenant.secret,
                           event_alert("5500101", "production", "fatal"))).status_code == 202
    [in_prod] = wait_until(lambda: top_level(tenant, prod) or None, 60, what="the message in the first route")
    [in_pager] = wait_until(lambda: top_level(tenant, pager) or None, 60, what="the message in the second route")

    # Each route's escalation (armed per route) is a reply in that route's own thread.
    for message in (in_prod, in_pager):
        [notice] = wait_until(lambda m=message: replies_under(tenant, m) or None, 60,  # type: ignore[misc]
                              what=f"the escalation notice in {message['channel']}'s thread")
        assert "Escalation 1" in notice["text"] and "<@UONCALL>" in notice["text"]

    [group] = wait_until(lambda: tenant.groups() or None, 30, what="the group in the read model")
    acked = call(tenant, "POST", f"/api/alert-groups/{group['group_id']}/ack?wait=true")
    assert acked["status"] == "applied", acked

    def acknowledged(channel: str) -> dict[str, Any] | None:
        [message] = top_level(tenant, channel)
        return message if message["text"].startswith("Acknowledged:") else None

    for channel, message in ((prod, in_prod), (pager, in_pager)):
        rewritten = wait_until(lambda c=channel: acknowledged(c), 60,  # type: ignore[misc]
                               what=f"the message in {channel} rewritten as acknowledged")
        assert rewritten["ts"] == message["ts"]
        assert len(replies_under(tenant, message)) == 1  # its own route's notice, and no other
    assert {m["channel"] for m in tenant.slack_messages()} == {prod, pager}
    assert len(top_level(tenant, prod)) == len(top_level(tenant, pager)) == 1
    tenant.admin.close()
