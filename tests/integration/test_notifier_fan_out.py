"""A group fanned out to two routes (issue 10.4: a rule's `continue`), against real PostgreSQL and the
fake Slack over HTTP: one message per route, each rewritten on its own (ack, resolve) and each
receiving its own thread replies, inline or through the reply lane; a route's message missing from
our records is found in its channel and remembered beside the other's. And migration
0004_message_per_route keeps the rows written before it valid."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

import signalcraft_notifier
from signalcraft_devstack.fake_slack import FakeSlackState
from signalcraft_devstack.stack import create_database_on
from signalcraft_notifier.adapters.slack import SlackClient
from signalcraft_notifier.domain.delivery import SlackCall
from signalcraft_runtime.database import sqlalchemy_url
from signalcraft_runtime.migrate import upgrade
from signalcraft_schemas import Envelope, encode
from signalcraft_schemas.events import GroupStatus, NotificationKind, NotificationRequested

from .test_notifier_delivery import (  # noqa: F401  (uow, slack: fixtures)
    T0, Clock, delivery_states, drain, drain_replies, escalation, follow_up, notifier_consumer,
    notifier_with_reply_lane, no_sleep, outbox_events, record_at, request, rewrite_lane, rows, slack, uow,
)

pytestmark = pytest.mark.integration
MIGRATIONS = Path(signalcraft_notifier.__file__).parent / "migrations"


def on(env: Envelope[Any], channel: str) -> Envelope[Any]:
    """The same request for the group's other route."""
    return Envelope.wrap(env.data.model_copy(update={"channel": channel}), workspace_id="ws", key=env.key,
                         correlation_id="c", occurred_at=T0)


def top_level(state: FakeSlackState, channel: str) -> list[dict[str, Any]]:
    return [m for m in state.messages if m["channel"] == channel and m["thread_ts"] is None]


def thread(state: FakeSlackState, channel: str, ts: str) -> list[str]:
    """Request ids of the replies in a thread."""
    return [m["metadata"]["event_payload"]["request_id"] for m in state.messages
            if m["channel"] == channel and m["thread_ts"] == ts]


async def test_a_group_with_two_routes_has_two_messages_each_rewritten_and_replied_under_on_its_own(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    prod, pager = f"#prod-{secrets.token_hex(3)}", f"#pager-{secrets.token_hex(3)}"
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    clock = Clock()
    deliverer, replies = notifier_with_reply_lane(uow, client, clock)
    opened = request(prod)
    await deliverer.process([record_at(opened, 0), record_at(on(opened, pager), 1)])
    [in_prod], [in_pager] = top_level(state, prod), top_level(state, pager)
    group_id = opened.data.group.group_id
    recorded = await rows(uow, "SELECT channel, message_ts FROM notifier.group_messages WHERE group_id = :g", g=group_id)
    assert {tuple(r) for r in recorded} == {(prod, in_prod["ts"]), (pager, in_pager["ts"])}

    # Acknowledged: each route's message is rewritten in place, neither coalesced into the other.
    acked = follow_up(opened, NotificationKind.STATE_CHANGED, status=GroupStatus.ACKNOWLEDGED,
                      acknowledged_by="slack:T1/U42", acknowledged_at=T0)
    await deliverer.process([record_at(acked, 2), record_at(on(acked, pager), 3)])  # the router's one per route
    assert await drain(rewrite_lane(uow, client)) == 2
    for message in (in_prod, in_pager):
        assert message["updates"] == 1 and message["text"].startswith("Acknowledged: "), message["channel"]
    states = await rows(uow, "SELECT channel, state, message_ts FROM notifier.deliveries WHERE group_id = :g "
                             "AND kind = 'state_changed'", g=group_id)
    assert {tuple(r) for r in states} == {(prod, "sent", in_prod["ts"]), (pager, "sent", in_pager["ts"])}

    # Each route's escalation is a reply in that route's thread, and a reopen too (inline here).
    clock.now += 60
    prod_escalation = escalation(opened, 1)
    pager_escalation = on(prod_escalation, pager)
    reopened = follow_up(opened, NotificationKind.REOPENED, reopen_count=1)
    pager_reopened = on(reopened, pager)
    await deliverer.process([record_at(e, i) for i, e in enumerate(
        [prod_escalation, pager_escalation, reopened, pager_reopened])])
    assert thread(state, prod, in_prod["ts"]) == [str(prod_escalation.id), str(reopened.id)]
    assert thread(state, pager, in_pager["ts"]) == [str(pager_escalation.id), str(pager_reopened.id)]
    assert await drain(rewrite_lane(uow, client)) == 2  # the reopen's state, on both messages
    assert in_prod["updates"] == 2 and in_pager["updates"] == 2

    # Replies that wait their channel's turn queue per thread and still land in their own thread, in order.
    clock.now += 60
    burst = [escalation(opened, n) for n in range(2, 9)]  # 7 per route: 5 go at once, 2 queue in each thread
    pager_burst = [on(e, pager) for e in burst]
    await deliverer.process([record_at(e, i) for i, e in enumerate([*burst, *pager_burst])])
    assert set((await delivery_states(uow, [*burst[5:], *pager_burst[5:]])).values()) == {"queued"}
    clock.now += 60
    await drain_replies(replies)
    assert thread(state, prod, in_prod["ts"])[2:] == [str(e.id) for e in burst]
    assert thread(state, pager, in_pager["ts"])[2:] == [str(e.id) for e in pager_burst]
    assert (len(top_level(state, prod)), len(top_level(state, pager))) == (1, 1)
    assert await rows(uow, "SELECT 1 FROM notifier.replies WHERE group_id = :g", g=group_id) == []
    delivered = [e for e in await outbox_events(uow, opened.key) if e.type == "notification.delivered"]
    assert {e.data.channel for e in delivered} == {prod, pager} and len(delivered) == 2 + 2 + 4 + 14


async def test_a_second_routes_message_missing_from_our_records_is_found_and_remembered_beside_the_first(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """As after the fix's rollout: only the first route's message was recorded (per group). Resolving
    the group rewrites both messages; the second is looked up in its own channel, then remembered."""
    state, base_url = slack
    prod, pager = f"#prod-{secrets.token_hex(3)}", f"#pager-{secrets.token_hex(3)}"
    client = SlackClient("xoxb-test", base_url)
    opened = request(prod)
    await notifier_consumer(uow, lambda _: client, sleep=no_sleep).process([record_at(opened, 0)])
    pager_opened = on(opened, pager)
    posted = await client.post(SlackCall("chat.postMessage", pager, "Boom", [], group_id=opened.data.group.group_id,
                                         kind="new_group"), str(pager_opened.id))  # never recorded
    resolved = follow_up(opened, NotificationKind.RESOLVED, status=GroupStatus.RESOLVED)
    await notifier_consumer(uow, lambda _: client, sleep=no_sleep).process(
        [record_at(resolved, 0), record_at(on(resolved, pager), 1)])
    assert await drain(rewrite_lane(uow, lambda _: client)) == 2
    [in_prod], [in_pager] = top_level(state, prod), top_level(state, pager)
    assert in_pager["ts"] == posted.ts
    assert all(m["updates"] == 1 and m["text"].startswith("Resolved: ") for m in (in_prod, in_pager))
    recorded = await rows(uow, "SELECT channel, message_ts FROM notifier.group_messages WHERE group_id = :g",
                          g=opened.data.group.group_id)
    assert {tuple(r) for r in recorded} == {(prod, in_prod["ts"]), (pager, posted.ts)}


def migrate_to(url: str, revision: str) -> None:
    """The notifier's migrations up to `revision`, as signalcraft_runtime.migrate.upgrade runs them."""
    engine = create_sync_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        conn.execute(text('CREATE SCHEMA IF NOT EXISTS "notifier"'))
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        config.attributes["schema"] = "notifier"
        command.upgrade(config, revision)
        conn.commit()
    engine.dispose()


async def test_migration_0004_keys_messages_per_route_and_keeps_the_rows_before_it(database_url: str) -> None:
    url = create_database_on(database_url, f"notifier_0004_{secrets.token_hex(4)}")
    await asyncio.to_thread(migrate_to, url, "0003")
    opened = request("#prod")
    group_id = opened.data.group.group_id
    updated = Envelope.wrap(NotificationRequested(kind=NotificationKind.UPDATED, group=opened.data.group, channel="#prod"),
                            workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=T0)
    notice = Envelope.wrap(NotificationRequested(kind=NotificationKind.ESCALATION, group=opened.data.group,
                                                 channel="#leads", group_channel="#pager"),
                           workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=T0)
    engine = create_sync_engine(sqlalchemy_url(url))
    with engine.begin() as conn:  # written by the notifier before the migration: keyed by group alone
        conn.execute(text("INSERT INTO notifier.group_messages (group_id, channel, message_ts) VALUES (:g, '#prod', '1.1')"),
                     {"g": group_id})
        conn.execute(text("INSERT INTO notifier.rewrites (group_id, workspace_id, request, request_ids, version, due_at) "
                          "VALUES (:g, 'ws', :r, ARRAY[:i]::uuid[], 1, now())"),
                     {"g": group_id, "r": encode(updated), "i": updated.id})
        conn.execute(text("INSERT INTO notifier.replies (request_id, group_id, workspace_id, request, started_at, "
                          "may_have_posted, due_at) VALUES (:i, :g, 'ws', :r, now(), false, now())"),
                     {"i": notice.id, "g": group_id, "r": encode(notice)})
    await asyncio.to_thread(upgrade, url, "notifier", MIGRATIONS)
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT group_id, channel, message_ts FROM notifier.group_messages"))] \
            == [(group_id, "#prod", "1.1")]
        assert [tuple(r) for r in conn.execute(text("SELECT group_id, channel FROM notifier.rewrites"))] == [
            (group_id, "#prod")]
        assert [tuple(r) for r in conn.execute(text("SELECT request_id, channel FROM notifier.replies"))] == [
            (notice.id, "#pager")]  # the thread of the route it names
        # The group's second route's message now has a row of its own.
        conn.execute(text("INSERT INTO notifier.group_messages (group_id, channel, message_ts) VALUES (:g, '#pager', '2.2')"),
                     {"g": group_id})
        assert conn.execute(text("SELECT count(*) FROM notifier.group_messages WHERE group_id = :g"),
                            {"g": group_id}).scalar() == 2
    engine.dispose()
