"""The config API refuses what would let one workspace reach into another, or accept strangers' alerts,
on the real stack (query-api on PostgreSQL, ingest reading the config topic)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import Stack

from .conftest import Tenant, make_tenant

pytestmark = pytest.mark.e2e


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url("query-api"), headers={"Authorization": f"Bearer {stack.admin_token}"},
                        timeout=30)


def pagerduty_trigger(routing_key: str, dedup_key: str) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key,
            "payload": {"summary": "Checkout error rate 12%", "source": "checkout-1", "severity": "error"}}


@pytest.fixture
def two_tenants(stack: Stack) -> Any:
    first, second = make_tenant(stack, wait_for_ingest=False), make_tenant(stack, wait_for_ingest=False)
    yield first, second
    first.admin.close()
    second.admin.close()


def test_a_pagerduty_routing_key_used_by_another_workspace_is_refused_409(two_tenants: tuple[Tenant, Tenant]) -> None:
    first, second = two_tenants
    routing_key = secrets.token_hex(16)
    created = first.admin.add_integration(first.workspace_id, "pagerduty", "PD", secret=routing_key)
    with api(first.stack) as client:
        taken = client.post("/api/integrations", json={"workspace_id": second.workspace_id, "provider": "pagerduty",
                                                       "name": "PD too", "secret": routing_key})
        again = client.post("/api/integrations", json={"workspace_id": first.workspace_id, "provider": "pagerduty",
                                                       "name": "PD again", "secret": routing_key})
        # A Sentry client secret names no integration by itself: it need not be unique.
        sentry = client.post("/api/integrations", json={"workspace_id": second.workspace_id, "provider": "sentry",
                                                        "name": "Sentry", "secret": routing_key})
    assert (taken.status_code, again.status_code, sentry.status_code) == (409, 409, 201)
    assert "already uses this secret" in taken.json()["detail"] and routing_key not in taken.text
    assert "pagerduty" not in [i["provider"] for i in second.admin.get("/api/integrations",
                                                                       workspace_id=second.workspace_id)]
    assert [i["provider"] for i in first.admin.get("/api/integrations", workspace_id=first.workspace_id)
            ].count("pagerduty") == 1
    stored = first.sql("SELECT secret_fingerprint, secret_encrypted FROM query.integrations WHERE integration_id = %s",
                       created["integration_id"])
    assert stored[0][0] and routing_key not in stored[0][0] and routing_key not in stored[0][1]
    # /v2/enqueue routes the key to the first workspace only.
    answer = wait_until(lambda: (r := httpx.post(created["events_v2_url"], json=pagerduty_trigger(routing_key, "d-1"),
                                                 timeout=30)).status_code == 202 and r, 60, what="ingest knowing it")
    assert answer.json()["status"] == "success"
    wait_until(lambda: first.groups(), 60, what="the alert in the first workspace")
    assert second.groups() == []


def test_a_routing_rule_of_another_workspace_cannot_be_taken_over(two_tenants: tuple[Tenant, Tenant]) -> None:
    owner, other = two_tenants
    rule = owner.admin.add_rule(owner.workspace_id, "prod", f"{owner.channel}-oncall", position=10)
    with api(owner.stack) as client:
        takeover = client.put(f"/api/routing-rules/{rule['rule_id']}", json={
            "workspace_id": other.workspace_id, "name": "mine now", "channel": "#attacker"})
        edit = client.put(f"/api/routing-rules/{rule['rule_id']}", json={
            "workspace_id": owner.workspace_id, "name": "prod", "channel": f"{owner.channel}-sre", "position": 10})
    assert takeover.status_code == 409 and "another workspace" in takeover.json()["detail"]
    assert other.admin.get("/api/routing-rules", workspace_id=other.workspace_id) == []
    assert edit.status_code == 200  # its own workspace still edits it
    [kept] = owner.admin.get("/api/routing-rules", workspace_id=owner.workspace_id)
    assert (kept["rule_id"], kept["workspace_id"], kept["channel"]) == (rule["rule_id"], owner.workspace_id,
                                                                        f"{owner.channel}-sre")


def test_a_cloudwatch_integration_without_topic_arns_is_refused_422_with_the_reason(stack: Stack) -> None:
    tenant = make_tenant(stack, wait_for_ingest=False)
    with api(stack) as client:
        refused = client.post("/api/integrations", json={"workspace_id": tenant.workspace_id,
                                                         "provider": "cloudwatch", "name": "AWS"})
        bad_limit = client.post("/api/integrations", json={"workspace_id": tenant.workspace_id, "provider": "sentry",
                                                           "name": "S", "options": {"rate_limit_per_second": "fast"}})
    assert refused.status_code == 422 and "topic_arns" in refused.json()["detail"]
    assert bad_limit.status_code == 422 and "rate_limit_per_second" in bad_limit.json()["detail"]
    time.sleep(0.2)
    assert [i["provider"] for i in tenant.admin.get("/api/integrations", workspace_id=tenant.workspace_id)] == ["sentry"]
    tenant.admin.close()
