"""Webhook in, Slack message out, through every service, on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert, issue, send

pytestmark = pytest.mark.e2e


async def send_all(tenant: Tenant, bodies: list[bytes], concurrency: int = 16) -> list[int]:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=30) as client:
        async def one(body: bytes) -> int:
            async with gate:
                return (await send(client, tenant.webhook_url, tenant.secret, body)).status_code
        return await asyncio.gather(*(one(b) for b in bodies))


async def test_hundred_noisy_alerts_become_five_groups_and_five_slack_messages(tenant: Tenant) -> None:
    issues = [str(9_000_000 + i) for i in range(5)]
    bodies = [event_alert(issues[i % 5]) for i in range(100)]
    statuses = await send_all(tenant, bodies)
    assert statuses == [202] * 100

    def grouped() -> list[dict] | None:
        groups = tenant.groups()
        return groups if len(groups) == 5 and sum(g["count"] for g in groups) == 100 else None

    groups = wait_until(grouped, 60, what="100 alerts in 5 groups")
    assert sorted(g["count"] for g in groups) == [20] * 5
    assert {g["environment"] for g in groups} == {"prod"}
    assert {g["severity"] for g in groups} == {"high"}
    wait_until(lambda: len(tenant.slack_messages()) >= 5, 60, what="5 Slack messages")
    await asyncio.sleep(2.0)  # a sixth message would have to arrive now; none may
    messages = tenant.slack_messages()
    assert len(messages) == 5
    posted_groups = {b["block_id"] for m in messages for b in m["blocks"] if b["type"] == "actions"}
    assert posted_groups == {f"signalcraft.group.{g['group_id']}" for g in groups}
    assert all(m["text"].startswith("<!here> [HIGH] prod") for m in messages)
    # Each message is rewritten in place as its group grows (debounced), until it shows the final count.
    wait_until(lambda: all("(×20)" in m["text"] for m in tenant.slack_messages()), 60, what="messages show ×20")
    assert len(tenant.slack_messages()) == 5

    overview = wait_until(lambda: (o := tenant.api("/api/dashboard/overview"))["notifications"]["delivered"] == 5 and o,
                          60, what="5 deliveries in the dashboard")
    assert overview["alerts"] == 100 and overview["groups"] == 5
    assert overview["dedup_ratio"] == pytest.approx(0.95)
    assert overview["notifications"]["delivered"] == 5


async def test_sentry_resolved_resolves_the_group_and_updates_its_message(tenant: Tenant) -> None:
    issue_id = "7700001"
    async with httpx.AsyncClient(timeout=30) as client:
        created = await send(client, tenant.webhook_url, tenant.secret, issue("created", issue_id), resource="issue")
        assert created.status_code == 202
        message = wait_until(lambda: tenant.slack_messages(), 60, what="the group's Slack message")[0]
        resolved = await send(client, tenant.webhook_url, tenant.secret, issue("resolved", issue_id), resource="issue")
        assert resolved.status_code == 202

    def resolved_group() -> dict | None:
        groups = tenant.groups()
        return groups[0] if groups and groups[0]["status"] == "resolved" else None

    group = wait_until(resolved_group, 60, what="group resolved")
    assert group["resolved_at"] is not None
    updated = wait_until(lambda: [m for m in tenant.slack_messages() if m["updates"] >= 1], 60, what="message updated")
    assert updated[0]["ts"] == message["ts"]  # the same message, rewritten, not a new one
    assert updated[0]["text"].startswith("Resolved:")
    assert not any(b["type"] == "actions" for b in updated[0]["blocks"])
    assert len(tenant.slack_messages()) == 1
    detail = tenant.admin.get(f"/api/alert-groups/{group['group_id']}")
    kinds = [e["kind"] for e in detail["timeline"]]
    # The timeline starts with the webhook's alert received, then the group it opened.
    assert kinds[:2] == ["received", "opened"] and "resolved" in kinds and "notification_delivered" in kinds


async def test_routing_rules_pick_channel_mention_and_runbook(stack) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(stack)
    oncall, dev = f"{tenant.channel}-oncall", f"{tenant.channel}-dev"
    tenant.admin.add_rule(tenant.workspace_id, "prod high", oncall, position=10,
                          conditions={"environments": ["prod"], "min_severity": "high"},
                          runbook_url="https://runbooks.example.com/prod")
    tenant.admin.add_rule(tenant.workspace_id, "staging", dev, position=20, conditions={"environments": ["staging"]})
    # No pause: the API answers once the rules are on the config topic, and the router catches up
    # with that topic before routing each batch.
    bodies = [event_alert("8800001", "production", "fatal"), event_alert("8800002", "stage", "warning"),
              event_alert("8800003", "production", "info")]
    assert await send_all(tenant, bodies) == [202, 202, 202]
    messages = wait_until(lambda: (m := tenant.slack_messages()) and len(m) == 3 and m, 60, what="3 messages")
    by_channel = {m["channel"]: m for m in messages}
    assert set(by_channel) == {oncall, dev, tenant.channel}
    assert by_channel[oncall]["text"].startswith("<!here> [CRITICAL] prod")
    assert "https://runbooks.example.com/prod" in str(by_channel[oncall]["blocks"])
    assert by_channel[dev]["text"].startswith("[MEDIUM] staging")  # no @here below high
    assert by_channel[tenant.channel]["text"].startswith("[LOW] prod")  # default channel
    tenant.admin.close()


async def test_a_repeated_delivery_is_acknowledged_and_not_processed_twice(tenant: Tenant) -> None:
    body, request_id = event_alert("6600001"), uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=30) as client:
        first = await send(client, tenant.webhook_url, tenant.secret, body, request_id=request_id)
        again = await send(client, tenant.webhook_url, tenant.secret, body, request_id=request_id)
    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    wait_until(lambda: tenant.slack_messages(), 60, what="Slack message")
    await asyncio.sleep(1.0)
    assert [g["count"] for g in tenant.groups()] == [1]
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s", tenant.integration_id) == [(1,)]


@pytest.mark.parametrize(
    ("name", "make_request", "status", "reason"),
    [
        ("bad signature", lambda b, s: (b, {**sentry_headers(b, "not-the-secret")}), 401, "does not match"),
        ("no signature", lambda b, s: (b, {"Content-Type": "application/json"}), 401, "missing"),
        ("malformed JSON", lambda b, s: (b[:-7], sentry_headers(b[:-7], s)), 400, "not valid JSON"),
        ("unknown shape", lambda b, s: (b'{"hello": "world"}', sentry_headers(b'{"hello": "world"}', s)), 422, "missing 'data'"),
        ("oversize", lambda b, s: (b"{" + b" " * 1_100_000 + b"}", sentry_headers(b"{" + b" " * 1_100_000 + b"}", s)), 413, "limit"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_nothing_is_stored(tenant: Tenant, name: str, make_request, status: int, reason: str) -> None:  # type: ignore[no-untyped-def]
    body, headers = make_request(event_alert("5500001"), tenant.secret)
    response = httpx.post(tenant.webhook_url, content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    time.sleep(0.5)
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s", tenant.integration_id) == [(0,)]
    assert tenant.sql("SELECT count(*) FROM query.alerts WHERE workspace_id = %s", tenant.workspace_id) == [(0,)]


def test_unknown_integration_is_404(stack) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(f"{stack.url('ingest')}/webhooks/sentry/does-not-exist", content=b"{}", timeout=10)
    assert response.status_code == 404


async def test_a_webhook_sent_the_moment_its_workspace_is_configured_is_accepted_and_delivered(stack) -> None:  # type: ignore[no-untyped-def]
    """No waiting for the services to learn new configuration: the config API answers once the change
    is on the config topic, and a service meeting a workspace or integration it does not know yet
    catches up with that topic instead of refusing the webhook or routing the alert nowhere."""
    for _ in range(3):
        tenant = make_tenant(stack, wait_for_ingest=False)
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await send(client, tenant.webhook_url, tenant.secret, event_alert("9100001"))
            assert response.status_code == 202, response.text
            # Routed by the workspace's default channel, which the router may have learnt only now.
            wait_until(lambda: len(tenant.slack_messages()) == 1, 60, what="the Slack message")
        finally:
            tenant.admin.close()


async def test_slack_failures_are_retried_then_visible_in_delivery_health(stack) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant(stack)
    # First post: rate limited twice (429 + Retry-After: 1), then delivered.
    httpx.post(f"{stack.slack_url}/_fake/failures", json={
        "method": "chat.postMessage", "error": "ratelimited", "status": 429, "retry_after": 1, "times": 2,
        "channel": tenant.channel}).raise_for_status()
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await send(client, tenant.webhook_url, tenant.secret, event_alert("4400001"))).status_code == 202
    wait_until(lambda: tenant.slack_messages(), 60, what="delivered after rate limiting")

    def attempts() -> list[tuple] | None:  # recorded just after Slack answered: poll, don't race
        rows = tenant.sql("SELECT a.attempt, a.outcome, a.error FROM notifier.attempts a JOIN notifier.deliveries d "
                          "USING (request_id) WHERE d.channel = %s ORDER BY a.attempt", tenant.channel)
        return rows if len(rows) >= 3 else None

    rows = wait_until(attempts, 60, what="three attempts recorded")
    assert rows == [(1, "retry_after", "ratelimited"), (2, "retry_after", "ratelimited"), (3, "ok", None)]

    # A channel that does not exist: a terminal failure, shown in delivery health with Slack's error.
    httpx.post(f"{stack.slack_url}/_fake/configure", json={"missing_channels": [tenant.channel]}).raise_for_status()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            assert (await send(client, tenant.webhook_url, tenant.secret, event_alert("4400002"))).status_code == 202
        # The read model learns the failure, the delivery and the alert count from three topics.
        health = wait_until(lambda: (h := tenant.api("/api/delivery-health"))["recent_failures"]
                            and h["last_slack_delivery_at"] and h["integrations"][0]["alerts_total"] == 2 and h,
                            60, what="failure, delivery and both alerts visible in delivery health")
    finally:
        httpx.post(f"{stack.slack_url}/_fake/configure", json={"missing_channels": []})
    failure = health["recent_failures"][0]
    assert failure["error"] == "channel_not_found" and failure["status"] == "failed" and failure["attempts"] == 1
    assert health["last_slack_delivery_at"] is not None
    assert health["integrations"][0]["alerts_total"] == 2
    tenant.admin.close()


async def test_an_unprocessable_message_goes_to_the_dead_letter_topic_and_shows(tenant: Tenant) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=tenant.stack.broker.bootstrap_servers, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait("alerts.normalized", b"this is not an event", key=b"garbage")
    finally:
        await producer.stop()
    def dead_letters_of_both_consumers() -> list[dict] | None:
        # Each consumer of the topic dead-letters the record on its own, and each dead letter reaches
        # the read model by its own path: wait for both, not for the first.
        # After a rebuild of the read models (an earlier test may have run one on this stack) query-api
        # consumes in group query-api-rebuild-<generation>: still query-api's dead letter.
        ours = [d for d in tenant.admin.get("/api/dead-letters", limit=500) if d["topic"] == "alerts.normalized"]
        return ours if {"grouping", "query-api"} <= {d["consumer"].split("-rebuild-")[0] for d in ours} else None

    ours = wait_until(dead_letters_of_both_consumers, 60, what="dead letters of grouping and query-api visible")
    assert all("undecodable" in d["error"] for d in ours)
    # Whose it is cannot be read: the global (admin) view shows it, no workspace's delivery health does.
    assert {d["workspace_id"] for d in ours} == {"unknown"}
    assert [d for d in tenant.api("/api/delivery-health")["dead_letters"] if d["workspace_id"] != tenant.workspace_id] == []
    assert tenant.admin.get("/api/dead-letters", workspace_id=tenant.workspace_id) == []


async def test_a_sentry_body_replayed_with_a_new_request_id_is_a_duplicate_and_stores_nothing(tenant: Tenant) -> None:
    """Sentry signs the body only; the Request-ID is not signed, so a captured body with a new id is a replay."""
    body = event_alert("6600002")
    async with httpx.AsyncClient(timeout=30) as client:
        first = await send(client, tenant.webhook_url, tenant.secret, body, request_id=uuid.uuid4().hex)
        replayed = await send(client, tenant.webhook_url, tenant.secret, body, request_id=uuid.uuid4().hex)
        other = await send(client, tenant.webhook_url, tenant.secret, event_alert("6600002"))
    assert first.status_code == 202
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate"
    assert other.status_code == 202  # another event of the same issue is no replay
    wait_until(lambda: [g["count"] for g in tenant.groups()] == [2], 60, what="two alerts in the group")
    await asyncio.sleep(1.0)
    assert [g["count"] for g in tenant.groups()] == [2]
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s", tenant.integration_id) == [(2,)]


def test_over_its_rate_limit_an_integration_gets_429_and_delivery_health_counts_it(tenant: Tenant) -> None:
    created = tenant.admin.add_integration(tenant.workspace_id, "sentry", "Noisy Sentry", secret=tenant.secret,
                                           options={"rate_limit_per_second": "0.2", "rate_limit_burst": "2"})
    url = created["webhook_url"]
    wait_until(lambda: httpx.post(url, content=b"{}", timeout=10).status_code == 401, 60, what="ingest knowing it")
    answers = []
    for n in range(5):
        body = event_alert(str(6_700_000 + n))
        answers.append(httpx.post(url, content=body, headers=sentry_headers(body, tenant.secret), timeout=30))
    assert [a.status_code for a in answers] == [202, 202, 429, 429, 429], [a.text for a in answers]
    assert all(int(a.headers["retry-after"]) >= 1 and "rate limit" in a.json()["error"] for a in answers[2:])

    def throttled() -> dict | None:
        found = [i for i in tenant.api("/api/delivery-health")["integrations"]
                 if i["integration_id"] == created["integration_id"]]
        return found[0] if found and found[0]["throttled_total"] == 3 else None

    health = wait_until(throttled, 60, what="3 throttled webhooks in delivery health")
    assert health["alerts_total"] == 2 and health["last_throttled_at"] is not None
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s",
                      created["integration_id"]) == [(2,)]  # every 202 stored, no 429
