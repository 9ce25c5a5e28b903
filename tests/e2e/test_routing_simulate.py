"""What-if on the real stack (issue 10.6): stored alerts replayed through a proposed rule set, answered
per channel next to what was actually sent, and nothing changed (row counts, config topic)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from signalcraft_devstack.admin import wait_until
from signalcraft_query_api.repository.rollup import ROLLUPS

from .conftest import Tenant, wait_settled
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e


async def config_topic_end(bootstrap: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition("config", p) for p in consumer.partitions_for_topic("config") or set()]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


# The dashboard's rollups: query-api's fold moves rows from the changes tables into the sums in the
# background (every few seconds), changing their row counts but no total; so they are compared by totals.
ROLLUP_TABLES = {r.changes for r in ROLLUPS} | {sums.table for r in ROLLUPS for sums in r.sums}


def row_counts(tenant: Tenant) -> dict[str, Any]:
    """The tenant's rows in every table of query-api's schema that holds a workspace's rows (read
    models, configuration, outbox), and what its dashboard rollups hold. Other tenants' groups keep
    moving on the shared stack (escalations, snooze expiries), so counting every row would see their
    writes, not the request's."""
    tables = [name for (name,) in tenant.sql(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_schema, table_name) WHERE c.table_schema = 'query' AND t.table_type = 'BASE TABLE' "
        "AND c.column_name = 'workspace_id'")]
    counts: dict[str, Any] = {name: tenant.sql(f'SELECT count(*) FROM query."{name}" WHERE workspace_id = %s',
                                               tenant.workspace_id)[0][0]
                              for name in sorted(tables) if name not in ROLLUP_TABLES}
    for rollup in ROLLUPS:  # each sums table with the changes not folded into it yet
        for sums in rollup.sums:
            columns = ", ".join(sums.counters)
            both = (f"SELECT {columns} FROM query.{sums.table} WHERE workspace_id = %s UNION ALL "
                    f"SELECT {columns} FROM query.{rollup.changes} WHERE workspace_id = %s AND {sums.where}")
            totals = ", ".join(f"coalesce(sum({c}), 0)" for c in sums.counters)
            counts[f"{sums.table} totals"] = tenant.sql(f"SELECT {totals} FROM ({both}) AS t",
                                                        tenant.workspace_id, tenant.workspace_id)[0]
    return counts


def simulate(tenant: Tenant, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{tenant.stack.url('query-api')}/api/routing-rules/simulate", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})


async def test_simulate_replays_stored_alerts_through_proposed_rules_and_changes_nothing(tenant: Tenant) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    # Three Sentry issues: prod/high ×3, staging/medium ×2, prod/medium ×1; today all go to the default channel.
    bodies = ([event_alert("8100001") for _ in range(3)]
              + [event_alert("8100002", environment="staging", level="warning") for _ in range(2)]
              + [event_alert("8100003", level="warning")])
    async with httpx.AsyncClient(timeout=30) as client:
        for body in bodies:
            assert (await send(client, tenant.webhook_url, tenant.secret, body)).status_code == 202
    wait_until(lambda: len(tenant.api("/api/alerts", limit=50)["items"]) == 6, 60, what="6 alerts stored")
    wait_until(lambda: len([r for r in tenant.sql(
        "SELECT 1 FROM query.notifications WHERE workspace_id = %s AND kind = 'new_group' AND status = 'delivered'",
        tenant.workspace_id)]) == 3, 60, what="3 first notifications delivered")
    until = datetime.now(UTC) + timedelta(seconds=1)
    page, staging, prod = f"{tenant.channel}-page", f"{tenant.channel}-staging", f"{tenant.channel}-prod"
    proposed = [
        {"name": "prod high pages", "position": 1, "channel": page, "continue_matching": True,
         "conditions": {"environments": ["prod"], "matchers": ['severity=~"high|critical"']}},
        {"name": "staging", "position": 2, "channel": staging, "conditions": {"environments": ["staging"]}},
        {"name": "all prod", "position": 3, "channel": prod, "conditions": {"environments": ["prod"]}},
    ]
    before_rows = wait_settled(lambda: row_counts(tenant), 60, 1.0, "the tenant's read models settled")
    before_config = await config_topic_end(tenant.stack.broker.bootstrap_servers)

    response = simulate(tenant, {"workspace_id": tenant.workspace_id, "rules": proposed,
                                 "since": since.isoformat(), "until": until.isoformat()})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["alerts_replayed"], answer["groups"], answer["unrouted_groups"]) == (6, 3, 0)
    by_channel = {c["channel"]: (c["simulated"], c["actual"]) for c in answer["channels"]}
    # prod/high: page and (continue) all-prod; staging: staging; prod/medium: all-prod; default: none any more.
    assert by_channel == {
        page: ({"groups": 1, "notifications": 1}, {"groups": 0, "notifications": 0}),
        prod: ({"groups": 2, "notifications": 2}, {"groups": 0, "notifications": 0}),
        staging: ({"groups": 1, "notifications": 1}, {"groups": 0, "notifications": 0}),
        tenant.channel: ({"groups": 0, "notifications": 0}, {"groups": 3, "notifications": 3}),
    }
    assert "dedup window (1h)" in answer["how_groups_are_formed"]
    await asyncio.sleep(1.0)  # a write or a config event caused by the request would show by now
    assert row_counts(tenant) == before_rows
    assert await config_topic_end(tenant.stack.broker.bootstrap_servers) == before_config
    assert tenant.api("/api/routing-rules") == []  # the proposal was not saved


async def test_simulate_refuses_a_bad_range_an_unknown_workspace_and_a_bad_rule(tenant: Tenant) -> None:
    now = datetime.now(UTC)
    good = {"workspace_id": tenant.workspace_id, "rules": [], "since": (now - timedelta(hours=1)).isoformat(),
            "until": now.isoformat()}
    assert simulate(tenant, good).status_code == 200
    assert simulate(tenant, good | {"until": good["since"]}).status_code == 422
    assert simulate(tenant, good | {"workspace_id": "ws-nobody-here"}).status_code == 404
    assert simulate(tenant, good | {"rules": [{"name": "no channel"}]}).status_code == 422
    bad_matcher = {"name": "bad", "channel": "#x", "conditions": {"matchers": ['env=~"(unclosed"']}}
    refused = simulate(tenant, good | {"rules": [bad_matcher]})
    assert refused.status_code == 422, refused.text
