"""The notifier's delivery flow against real PostgreSQL and a fake Slack Web API over HTTP.

These pin down what the kill -9 end-to-end test can only hit by chance: a crash after Slack answered
and before the outcome was committed must not produce a second message; a second replica does not
take over a delivery while its owner's lease lives; a rewrite whose message is not recorded finds
it in the channel, however far back; rewrites of one message coalesce; paced thread replies wait in
the reply lane, not in the consumer's batch (so a first notification never waits behind them), in
order per group, and a queued reply taken over after a crash is not posted twice.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiohttp import web
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

import signalcraft_notifier
from signalcraft_devstack.fake_slack import FakeSlack, FakeSlackState
from signalcraft_devstack.ports import free_port
from signalcraft_notifier.adapters.slack import SlackClient, SlackGateway
from signalcraft_notifier.domain.delivery import DeliveryBatch, SlackCall
from signalcraft_notifier.domain.pacing import LanePacing, Pacer
from signalcraft_notifier.handlers import NotificationDelivery, ReplyLane, RewriteLane
from signalcraft_notifier.repository import ReplyRepository, RewriteRepository, tables
from signalcraft_runtime.consumer import SideEffectConsumer
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity, decode, encode
from signalcraft_schemas.events import GroupSnapshot, GroupStatus, NotificationKind, NotificationRequested, SlackReply

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def uow(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    await __import__("asyncio").to_thread(upgrade, database_url, "notifier",
                                          Path(signalcraft_notifier.__file__).parent / "migrations")
    engine = create_engine(database_url, pool_size=4)
    yield UnitOfWorkFactory(engine, tables)
    await engine.dispose()


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlackState, str]]:
    state = FakeSlackState()
    runner = web.AppRunner(FakeSlack(state).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state, f"http://127.0.0.1:{port}/api/"
    await runner.cleanup()


def request(channel: str) -> Envelope[Any]:
    group = GroupSnapshot(group_id=uuid4(), group_key=secrets.token_hex(32), source="sentry", project="api", environment="prod",
                          fingerprint="issue:1", title="Boom", severity=Severity.CRITICAL, status=GroupStatus.OPEN,
                          count=3, first_seen_at=T0, last_seen_at=T0)
    return Envelope.wrap(NotificationRequested(kind=NotificationKind.NEW_GROUP, group=group, channel=channel,
                                               mention_here=True), workspace_id="ws", key=group.group_key,
                         correlation_id="c", occurred_at=T0)


def record(env: Envelope[Any]) -> ConsumerRecord[Any, Any]:
    value = encode(env)
    return ConsumerRecord(topic="notifications.requested", partition=0, offset=0, timestamp=0, timestamp_type=0,
                          key=env.key.encode(), value=value, checksum=None, serialized_key_size=64,
                          serialized_value_size=len(value), headers=())


async def rows(uow: UnitOfWorkFactory, sql: str, **params: Any) -> list[Any]:
    async with uow.engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def no_sleep(_: float) -> None:
    return None


def pacing(lease_s: float = 10.0) -> LanePacing:
    return LanePacing(lease=timedelta(seconds=lease_s), posts=Pacer(1.0, 5), rewrites=Pacer(50 / 60, 20),
                      rewrite_interval=timedelta(seconds=0))


def notifier_consumer(uow: UnitOfWorkFactory, slack: Callable[[str], SlackClient | None],
                      sleep: Callable[[float], Awaitable[None]],
                      sync_config: Callable[[], Awaitable[bool]] | None = None,
                      owner: str = "replica-a", lease_s: float = 10.0,
                      api_base_url: str = "") -> SideEffectConsumer[DeliveryBatch]:
    """The notifier's consumer as main.py assembles it, with a given Slack and sleep."""
    gateway = SlackGateway(slack, sleep=sleep, api_base_url=api_base_url)
    return SideEffectConsumer(group_id="notifier", topics=["notifications.requested"],
                              handler=NotificationDelivery(gateway, uow, owner, pacing(lease_s), sync_config=sync_config),
                              accepts=(NotificationRequested,), uow_factory=uow)


def rewrite_lane(uow: UnitOfWorkFactory, slack: Callable[[str], SlackClient | None], owner: str = "replica-a") -> RewriteLane:
    return RewriteLane(uow, SlackGateway(slack, sleep=no_sleep), owner, pacing(), poll_s=0.01)


async def drain(lane: RewriteLane) -> int:
    """Every rewrite due now, as the lane's loop would do them."""
    done = 0
    while (step := await lane.step()) > 0:
        done += step
    return done


async def test_after_a_crash_between_slack_and_commit_the_message_is_found_not_posted_again(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    env = request(channel)
    client = SlackClient("xoxb-test", base_url)
    # Before the crash: `sending` was committed and Slack accepted the post (with our metadata)...
    posted = await client.post(SlackCall("chat.postMessage", channel, "Boom", [], group_id=env.data.group.group_id,
                                         kind="new_group"), str(env.id))
    assert posted.ok
    async with uow() as work:
        await work.connection.execute(text(
            "INSERT INTO notifier.deliveries (request_id, workspace_id, group_id, kind, channel, state, attempts, started_at) "
            "VALUES (:r, 'ws', :g, 'new_group', :c, 'sending', 0, now())"), {"r": env.id, "g": env.data.group.group_id, "c": channel})
        await work.commit()
    # ...then kill -9. The request is redelivered to the restarted notifier:
    deliverer = notifier_consumer(uow, lambda _: client, sleep=no_sleep)
    await deliverer.process([record(env)])
    assert len([m for m in state.messages if m["channel"] == channel]) == 1
    [(status, ts)] = await rows(uow, "SELECT state, message_ts FROM notifier.deliveries WHERE request_id = :r", r=env.id)
    assert (status, ts) == ("sent", posted.ts)
    delivered = [decode(r[0]) for r in await rows(uow, "SELECT payload FROM notifier.outbox WHERE key = :k", k=env.key)]
    assert [d.type for d in delivered] == ["notification.delivered"]
    # And a third delivery of the same request does nothing at all.
    await deliverer.process([record(env)])
    assert len([m for m in state.messages if m["channel"] == channel]) == 1


async def test_rate_limits_are_waited_out_and_every_attempt_is_recorded(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    from signalcraft_devstack.fake_slack import Failure

    state.failures.append(Failure(method="chat.postMessage", error="ratelimited", status=429, retry_after=7, times=2))
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)

    env = request(channel)
    deliverer = notifier_consumer(uow, lambda _: SlackClient("xoxb-test", base_url), sleep=record_sleep)
    await deliverer.process([record(env)])
    assert waits == [7.0, 7.0]  # Slack's Retry-After, not our backoff
    attempts = await rows(uow, "SELECT attempt, outcome, error, http_status FROM notifier.attempts WHERE request_id = :r "
                               "ORDER BY attempt", r=env.id)
    assert [tuple(a) for a in attempts] == [(1, "retry_after", "ratelimited", 429), (2, "retry_after", "ratelimited", 429),
                                            (3, "ok", None, 200)]
    assert len(state.messages) == 1


async def test_a_revoked_token_is_a_terminal_visible_failure(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    state.tokens = {"xoxb-the-real-one"}
    env = request(f"#c-{secrets.token_hex(3)}")
    deliverer = notifier_consumer(uow, lambda _: SlackClient("xoxb-revoked", base_url), sleep=no_sleep)
    await deliverer.process([record(env)])
    [(status, error, attempts)] = await rows(
        uow, "SELECT state, last_error, attempts FROM notifier.deliveries WHERE request_id = :r", r=env.id)
    assert (status, error, attempts) == ("failed", "invalid_auth", 1)  # no retry: retrying cannot fix a token
    [failed] = [decode(r[0]) for r in await rows(uow, "SELECT payload FROM notifier.outbox WHERE key = :k", k=env.key)]
    assert failed.type == "notification.failed" and failed.data.error == "invalid_auth"
    assert state.messages == []


def record_at(env: Envelope[Any], offset: int) -> ConsumerRecord[Any, Any]:
    value = encode(env)
    return ConsumerRecord(topic="notifications.requested", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=env.key.encode(), value=value, checksum=None, serialized_key_size=64,
                          serialized_value_size=len(value), headers=())


async def test_a_group_opened_and_updated_in_one_batch_is_posted_once_then_rewritten(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    opened = request(channel)
    grown = opened.data.group.model_copy(update={"count": 9})
    updated = Envelope.wrap(NotificationRequested(kind=NotificationKind.UPDATED, group=grown, channel=channel),
                            workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=T0)
    deliverer = notifier_consumer(uow, lambda _: SlackClient("xoxb-test", base_url), sleep=no_sleep)
    await deliverer.process([record_at(opened, 0), record_at(updated, 1)])
    assert await drain(rewrite_lane(uow, lambda _: SlackClient("xoxb-test", base_url))) == 1
    [message] = [m for m in state.messages if m["channel"] == channel]
    assert message["updates"] == 1 and "(×9)" in message["text"]
    states = await rows(uow, "SELECT request_id, state, message_ts FROM notifier.deliveries WHERE channel = :c", c=channel)
    assert {(r.request_id, r.state, r.message_ts) for r in states} == {(opened.id, "sent", message["ts"]),
                                                                      (updated.id, "sent", message["ts"])}


async def test_a_workspace_connected_to_slack_a_moment_ago_is_delivered_after_catching_up(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """The request names a workspace whose Slack connection the config view has not applied yet."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    env = request(channel)
    connections: dict[str, SlackClient] = {}
    syncs: list[bool] = []

    async def sync_config() -> bool:  # catching up applies the connection, as the config topic would
        syncs.append(True)
        connections["ws"] = SlackClient("xoxb-test", base_url)
        return True

    deliverer = notifier_consumer(uow, connections.get, sleep=no_sleep, sync_config=sync_config)
    await deliverer.process([record(env)])
    assert syncs == [True]
    assert len([m for m in state.messages if m["channel"] == channel]) == 1
    [(status,)] = await rows(uow, "SELECT state FROM notifier.deliveries WHERE request_id = :r", r=env.id)
    assert status == "sent"


def follow_up(opened: Envelope[Any], kind: NotificationKind, **group: Any) -> Envelope[Any]:
    snapshot = opened.data.group.model_copy(update=group)
    return Envelope.wrap(NotificationRequested(kind=kind, group=snapshot, channel=opened.data.channel, actor="slack:T1/U42"),
                         workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=T0)


async def outbox_events(uow: UnitOfWorkFactory, key: str) -> list[Envelope[Any]]:
    return [decode(r[0]) for r in await rows(uow, "SELECT payload FROM notifier.outbox WHERE key = :k ORDER BY id", k=key)]


async def test_rewrites_of_one_message_coalesce_into_one_chat_update_with_the_latest_state(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    opened = request(channel)
    deliverer = notifier_consumer(uow, client, sleep=no_sleep)
    await deliverer.process([record_at(opened, 0)])
    grown = [follow_up(opened, NotificationKind.UPDATED, count=n) for n in (4, 5, 6, 7)]
    acked = follow_up(opened, NotificationKind.STATE_CHANGED, count=7, status=GroupStatus.ACKNOWLEDGED,
                      acknowledged_by="slack:T1/U42", acknowledged_at=T0)
    await deliverer.process([record_at(e, i + 1) for i, e in enumerate([*grown, acked])])
    assert state.calls["chat.update"] == 0  # handed to the rewrite lane, not waited for
    assert await drain(rewrite_lane(uow, client)) == 1
    [message] = [m for m in state.messages if m["channel"] == channel]
    assert message["updates"] == 1 and message["text"].startswith("Acknowledged: ") and "(×7)" in message["text"]
    assert "<@U42>" in str(message["blocks"]) and '"signalcraft.unack"' in json_of(message["blocks"])
    states = await rows(uow, "SELECT state, message_ts FROM notifier.deliveries WHERE channel = :c", c=channel)
    assert sorted(tuple(r) for r in states) == [("sent", message["ts"])] * 6
    delivered = [e for e in await outbox_events(uow, opened.key) if e.type == "notification.delivered"]
    assert sorted(str(e.data.request_id) for e in delivered) == sorted(str(e.id) for e in [opened, *grown, acked])


async def test_rewrites_queued_by_several_batches_answer_every_request_with_one_chat_update(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """A waiting rewrite takes the next batch's state and adds that batch's requests to those it answers."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    opened = request(channel)
    deliverer = notifier_consumer(uow, client, sleep=no_sleep)
    await deliverer.process([record_at(opened, 0)])
    grown = [follow_up(opened, NotificationKind.UPDATED, count=n) for n in (2, 3, 4, 5)]
    await deliverer.process([record_at(e, i + 1) for i, e in enumerate(grown[:2])])
    await deliverer.process([record_at(e, i + 3) for i, e in enumerate(grown[2:])])
    [(version, answered)] = await rows(uow, "SELECT version, cardinality(request_ids) FROM notifier.rewrites "
                                       "WHERE group_id = :g", g=opened.data.group.group_id)
    assert (version, answered) == (2, 4)
    assert await drain(rewrite_lane(uow, client)) == 1
    [message] = [m for m in state.messages if m["channel"] == channel]
    assert message["updates"] == 1 and "(×5)" in message["text"]
    delivered = [e for e in await outbox_events(uow, opened.key) if e.type == "notification.delivered"]
    assert sorted(str(e.data.request_id) for e in delivered) == sorted(str(e.id) for e in [opened, *grown])


async def test_a_rewrite_finding_a_newer_state_queued_keeps_only_that_messages_unanswered_requests(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """While a rewrite's Slack call runs, the next state of the same message is queued: the row stays
    with the requests the call did not answer, its own; another message's queued requests stay theirs.
    (The kept requests were once computed by a subquery over the whole table: every queued request of
    every message, each then answered by this one message's next rewrite.)"""
    state, base_url = slack
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    deliverer = notifier_consumer(uow, client, sleep=no_sleep)
    first, other = request(f"#c-{secrets.token_hex(3)}"), request(f"#c-{secrets.token_hex(3)}")
    await deliverer.process([record_at(first, 0), record_at(other, 1)])
    updates = [follow_up(first, NotificationKind.UPDATED, count=4), follow_up(other, NotificationKind.UPDATED, count=4)]
    await deliverer.process([record_at(e, i + 2) for i, e in enumerate(updates)])

    now = datetime.now(UTC)
    async with uow() as work:  # the lane claims the first message's rewrite (others claimed are given back)
        repo = RewriteRepository(work.connection)
        claimed = await repo.claim_due(now, "replica-x", now + timedelta(minutes=5), 50)
        [mine] = [q for q in claimed if q.group_id == first.data.group.group_id]
        await repo.postpone([((q.group_id, q.channel), now) for q in claimed if q is not mine], "replica-x")
        await work.commit()
    newer = follow_up(first, NotificationKind.UPDATED, count=5)
    await deliverer.process([record_at(newer, 4)])  # queued while the claimed rewrite is under way
    await rewrite_lane(uow, client, owner="replica-x").rewrite(mine)

    kept = await rows(uow, "SELECT group_id, request_ids FROM notifier.rewrites WHERE group_id = ANY(:g)",
                      g=[first.data.group.group_id, other.data.group.group_id])
    assert {r[0]: sorted(r[1]) for r in kept} == {first.data.group.group_id: [newer.id],
                                                   other.data.group.group_id: [updates[1].id]}
    delivered = [e for e in await outbox_events(uow, first.key) if e.type == "notification.delivered"]
    assert sorted(str(e.data.request_id) for e in delivered) == sorted(str(e.id) for e in [first, updates[0]])
    async with uow() as work:  # the module's later tests drain the lane: leave them nothing of this one's
        await work.connection.execute(text("DELETE FROM notifier.rewrites WHERE group_id = ANY(:g)"),
                                      {"g": list({r[0] for r in kept})})
        await work.commit()


def json_of(value: Any) -> str:
    import json

    return json.dumps(value)


async def test_a_resolution_whose_message_is_not_recorded_is_found_in_the_channel_beyond_2000_messages(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """After a crash (or from before our records) the message is looked up by its metadata, page after
    page back to the group's first alert, and rewritten; never a second top-level message."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = SlackClient("xoxb-test", base_url)
    now = datetime.now(UTC)
    opened = request(channel)
    opened = Envelope.wrap(opened.data.model_copy(update={"group": opened.data.group.model_copy(update={
        "first_seen_at": now - timedelta(minutes=1), "last_seen_at": now})}),
        workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=now)
    posted = await client.post(SlackCall("chat.postMessage", channel, "Boom", [], group_id=opened.data.group.group_id,
                                         kind="new_group"), str(opened.id))
    for n in range(2500):  # a busy channel since: the message is 13 pages of history back
        state.add_message({"type": "message", "channel": channel, "ts": state.next_ts(), "text": f"chatter {n}",
                           "blocks": [], "metadata": None, "thread_ts": None, "updates": 0})
    resolved = follow_up(opened, NotificationKind.RESOLVED, status=GroupStatus.RESOLVED)
    await notifier_consumer(uow, lambda _: client, sleep=no_sleep).process([record_at(resolved, 0)])
    assert await drain(rewrite_lane(uow, lambda _: client)) == 1
    assert state.calls["conversations.history"] >= 13
    [message] = [m for m in state.messages if m["channel"] == channel and m["text"] != "" and not
                 m["text"].startswith("chatter")]
    assert message["ts"] == posted.ts and message["updates"] == 1 and message["text"].startswith("Resolved: ")
    assert state.calls["chat.postMessage"] == 1  # the original only
    [(status,)] = await rows(uow, "SELECT state FROM notifier.deliveries WHERE request_id = :r", r=resolved.id)
    assert status == "sent"
    [(ts,)] = await rows(uow, "SELECT message_ts FROM notifier.group_messages WHERE group_id = :g", g=opened.data.group.group_id)
    assert ts == posted.ts  # remembered: the next rewrite needs no search


async def test_a_rewrite_whose_message_never_was_fails_visibly_and_posts_nothing(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    resolved = follow_up(request(channel), NotificationKind.RESOLVED, status=GroupStatus.RESOLVED)
    await notifier_consumer(uow, client, sleep=no_sleep).process([record_at(resolved, 0)])
    await drain(rewrite_lane(uow, client))
    assert [m for m in state.messages if m["channel"] == channel] == []
    [(status, error)] = await rows(uow, "SELECT state, last_error FROM notifier.deliveries WHERE request_id = :r",
                                   r=resolved.id)
    assert (status, error) == ("failed", "original_message_missing")
    [failed] = await outbox_events(uow, resolved.key)
    assert failed.type == "notification.failed" and failed.data.request_id == resolved.id


async def test_a_second_replica_does_not_take_over_a_delivery_while_its_owners_lease_lives(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """Replica B started the delivery and posted; replica A gets the same record in a rebalance
    overlap. A waits for B's lease, then takes over and finds B's post instead of posting again."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = SlackClient("xoxb-test", base_url)
    env = request(channel)
    async with uow() as work:
        await work.connection.execute(text(
            "INSERT INTO notifier.deliveries (request_id, workspace_id, group_id, kind, channel, state, attempts, "
            "started_at, owner, lease_until) VALUES (:r, 'ws', :g, 'new_group', :c, 'sending', 0, now(), 'replica-b', "
            "now() + interval '1.5 seconds')"), {"r": env.id, "g": env.data.group.group_id, "c": channel})
        await work.commit()
    await client.post(SlackCall("chat.postMessage", channel, "Boom", [], group_id=env.data.group.group_id,
                                kind="new_group"), str(env.id))  # B's post, whose outcome B never recorded
    started = __import__("time").monotonic()
    await notifier_consumer(uow, lambda _: client, sleep=no_sleep, owner="replica-a").process([record(env)])
    assert __import__("time").monotonic() - started >= 1.0  # waited for the lease to run out
    assert len([m for m in state.messages if m["channel"] == channel]) == 1
    [(status, owner)] = await rows(uow, "SELECT state, owner FROM notifier.deliveries WHERE request_id = :r", r=env.id)
    assert (status, owner) == ("sent", "replica-a")


async def test_a_delivery_its_owner_finishes_meanwhile_is_left_to_it(uow, slack) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    env = request(channel)
    async with uow() as work:
        await work.connection.execute(text(
            "INSERT INTO notifier.deliveries (request_id, workspace_id, group_id, kind, channel, state, attempts, "
            "started_at, owner, lease_until) VALUES (:r, 'ws', :g, 'new_group', :c, 'sending', 0, now(), 'replica-b', "
            "now() + interval '30 seconds')"), {"r": env.id, "g": env.data.group.group_id, "c": channel})
        await work.commit()

    async def b_finishes() -> None:
        await asyncio.sleep(0.8)
        async with uow() as work:
            await work.connection.execute(text("UPDATE notifier.deliveries SET state = 'sent', message_ts = '1.1' "
                                               "WHERE request_id = :r"), {"r": env.id})
            await work.commit()

    finishing = asyncio.create_task(b_finishes())
    await notifier_consumer(uow, lambda _: SlackClient("xoxb-test", base_url), sleep=no_sleep).process([record(env)])
    await finishing
    assert [m for m in state.messages if m["channel"] == channel] == []  # A posted nothing
    assert await outbox_events(uow, env.key) == []  # and told nothing: B's result is B's


async def test_a_refused_click_is_answered_ephemerally_on_its_response_url(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    origin = base_url.removesuffix("/api/")
    group = request("#c").data.group
    rejected = Envelope.wrap(NotificationRequested(
        kind=NotificationKind.COMMAND_REJECTED, group=group, channel="#c", reason="already_resolved",
        reply_to=SlackReply(response_url=f"{origin}/actions/T1/1/abc", channel="C1", user="U42")),
        workspace_id="ws", key=group.group_key, correlation_id="c", occurred_at=T0)
    await notifier_consumer(uow, lambda _: SlackClient("xoxb-test", base_url), sleep=no_sleep,
                            api_base_url=base_url).process([record(rejected)])
    [answer] = state.responses
    assert answer["path"] == "/actions/T1/1/abc"
    assert answer["body"]["response_type"] == "ephemeral" and "already resolved" in answer["body"]["text"]
    [(status,)] = await rows(uow, "SELECT state FROM notifier.deliveries WHERE request_id = :r", r=rejected.id)
    assert status == "sent" and state.messages == []
    # Anywhere else than Slack's hooks (or the Slack we are configured with) is never called.
    elsewhere = rejected.data.model_copy(update={"reply_to": SlackReply(response_url="http://169.254.169.254/x")})
    other = Envelope.wrap(elsewhere, workspace_id="ws", key=group.group_key, correlation_id="c", occurred_at=T0)
    await notifier_consumer(uow, lambda _: SlackClient("xoxb-test", base_url), sleep=no_sleep,
                            api_base_url=base_url).process([record(other)])
    [(status, error)] = await rows(uow, "SELECT state, last_error FROM notifier.deliveries WHERE request_id = :r",
                                   r=other.id)
    assert (status, error) == ("failed", "response_url_not_allowed") and len(state.responses) == 1


async def test_a_thread_reply_posted_before_a_crash_is_found_in_its_thread_not_posted_again(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """A reopen's reply is not broadcast, so it is not in the channel's history: it is looked for in
    the thread (conversations.replies)."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    client = SlackClient("xoxb-test", base_url)
    opened = request(channel)
    deliverer = notifier_consumer(uow, lambda _: client, sleep=no_sleep)
    await deliverer.process([record_at(opened, 0)])
    [original] = [m for m in state.messages if m["channel"] == channel]
    reopened = follow_up(opened, NotificationKind.REOPENED, reopen_count=1)
    reopened = Envelope.wrap(reopened.data.model_copy(update={"flap_count": 1}), workspace_id="ws", key=opened.key,
                             correlation_id="c", occurred_at=T0)
    reply = await client.post(SlackCall("chat.postMessage", channel, "Reopened", [], thread_ts=original["ts"],
                                        group_id=opened.data.group.group_id, kind="reopened"), str(reopened.id))
    async with uow() as work:  # ...and then kill -9, before the outcome was recorded
        await work.connection.execute(text(
            "INSERT INTO notifier.deliveries (request_id, workspace_id, group_id, kind, channel, state, attempts, started_at) "
            "VALUES (:r, 'ws', :g, 'reopened', :c, 'sending', 0, now())"),
            {"r": reopened.id, "g": opened.data.group.group_id, "c": channel})
        await work.commit()
    await deliverer.process([record_at(reopened, 1)])
    replies = [m for m in state.messages if m["channel"] == channel and m["thread_ts"] == original["ts"]]
    assert [m["ts"] for m in replies] == [reply.ts] and state.calls["conversations.replies"] >= 1
    [(status, ts)] = await rows(uow, "SELECT state, message_ts FROM notifier.deliveries WHERE request_id = :r",
                                r=reopened.id)
    assert (status, ts) == ("sent", reply.ts)


async def test_a_lookup_slack_refuses_for_good_fails_the_rewrite_instead_of_retrying_forever(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    state.missing_channels.add(channel)
    client = lambda _: SlackClient("xoxb-test", base_url)  # noqa: E731
    resolved = follow_up(request(channel), NotificationKind.RESOLVED, status=GroupStatus.RESOLVED)
    await notifier_consumer(uow, client, sleep=no_sleep).process([record_at(resolved, 0)])
    await drain(rewrite_lane(uow, client))
    [(status, error)] = await rows(uow, "SELECT state, last_error FROM notifier.deliveries WHERE request_id = :r",
                                   r=resolved.id)
    assert (status, error) == ("failed", "channel_not_found")
    assert await rows(uow, "SELECT 1 FROM notifier.rewrites WHERE group_id = :g", g=resolved.data.group.group_id) == []


class Clock:
    """The pacer's clock, moved by the test: pacing decisions do not depend on how loaded the machine is."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def notifier_with_reply_lane(uow: UnitOfWorkFactory, slack: Callable[[str], SlackClient | None], clock: Clock,
                             owner: str = "replica-a", lease_s: float = 10.0
                             ) -> tuple[SideEffectConsumer[DeliveryBatch], ReplyLane]:
    """The consumer and the reply lane as main.py assembles them: one pace (1 post/s/channel, burst 5)."""
    gateway, paced = SlackGateway(slack, sleep=no_sleep), pacing(lease_s)
    lane = ReplyLane(uow, gateway, owner, paced, poll_s=0.01, clock=clock)
    handler = NotificationDelivery(gateway, uow, owner, paced, replies_queued=lane.wake, clock=clock)
    return SideEffectConsumer(group_id="notifier", topics=["notifications.requested"], handler=handler,
                              accepts=(NotificationRequested,), uow_factory=uow), lane


async def drain_replies(lane: ReplyLane) -> int:
    """Every reply whose turn it is, as the lane's loop would post them."""
    done = 0
    while (step := await lane.step()) > 0:
        done += step
    return done


def escalation(opened: Envelope[Any], level: int) -> Envelope[Any]:
    data = opened.data.model_copy(update={"kind": NotificationKind.ESCALATION, "escalation_level": level,
                                          "mention_here": False})
    return Envelope.wrap(data, workspace_id="ws", key=opened.key, correlation_id="c", occurred_at=T0)


def posted_for(state: FakeSlackState, channel: str) -> list[str]:
    """Request ids of the messages in `channel`, in the order Slack received them."""
    return [m["metadata"]["event_payload"]["request_id"] for m in state.messages
            if m["channel"] == channel and m.get("metadata")]


async def delivery_states(uow: UnitOfWorkFactory, envs: list[Envelope[Any]]) -> dict[str, str]:
    found = await rows(uow, "SELECT request_id, state FROM notifier.deliveries WHERE request_id = ANY(:r)",
                       r=[e.id for e in envs])
    return {str(r.request_id): r.state for r in found}


async def test_a_first_notification_is_not_held_back_by_the_previous_batchs_paced_replies(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """Eight escalations to one channel: the burst (5) goes at once, the other three would have to wait
    their turn. The consumer's batch does not wait for them: the next batch's critical is posted
    before them, and they follow in the reply lane at the channel's pace."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    clock = Clock()
    deliverer, lane = notifier_with_reply_lane(uow, lambda _: SlackClient("xoxb-test", base_url), clock)
    groups = [request(channel) for _ in range(8)]
    await deliverer.process([record_at(e, i) for i, e in enumerate(groups)])
    clock.now += 60  # the channel's pace has recovered from the groups' own messages
    escalations = [escalation(e, 1) for e in groups]
    await deliverer.process([record_at(e, i) for i, e in enumerate(escalations)])
    critical = request(channel)
    await deliverer.process([record_at(critical, 0)])  # the next batch: a new critical
    inline, queued = {str(e.id) for e in escalations[:5]}, {str(e.id) for e in escalations[5:]}
    posted = posted_for(state, channel)  # groups go concurrently: the order within each step is free
    assert (set(posted[:8]), set(posted[8:13]), posted[13:]) == ({str(e.id) for e in groups}, inline,
                                                                 [str(critical.id)])
    assert await delivery_states(uow, escalations[5:]) == dict.fromkeys(queued, "queued")
    assert [e.type for e in await outbox_events(uow, critical.key)] == ["notification.delivered"]

    clock.now += 60  # their turns come: the reply lane posts them
    await drain_replies(lane)
    posted = posted_for(state, channel)
    assert (posted[13], set(posted[14:])) == (str(critical.id), queued)  # after the critical, each once
    for e, g in zip(escalations[5:], groups[5:], strict=True):
        [original, reply] = [m for m in state.messages if m["channel"] == channel and
                             m["metadata"]["event_payload"]["request_id"] in (str(g.id), str(e.id))]
        assert reply["thread_ts"] == original["ts"] and reply["reply_broadcast"]  # in its group's thread
        events = await outbox_events(uow, e.key)
        assert [(x.type, x.data.request_id) for x in events if x.causation_id == e.id] == [
            ("notification.delivered", e.id)]
    assert set((await delivery_states(uow, escalations)).values()) == {"sent"}
    assert await rows(uow, "SELECT 1 FROM notifier.replies WHERE request_id = ANY(:r)",
                      r=[e.id for e in escalations]) == []


async def test_a_groups_queued_replies_are_posted_in_order_and_later_ones_never_overtake_them(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """A group opened with seven escalations in one batch: its message and four replies go at once,
    three queue (replying to the message posted in that batch). Two more in the next batch queue
    behind them although the channel's pace would let them go."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    clock = Clock()
    deliverer, lane = notifier_with_reply_lane(uow, lambda _: SlackClient("xoxb-test", base_url), clock)
    opened = request(channel)
    first = [escalation(opened, n) for n in range(1, 8)]
    await deliverer.process([record_at(e, i) for i, e in enumerate([opened, *first])])
    assert posted_for(state, channel) == [str(e.id) for e in [opened, *first[:4]]]
    clock.now += 60  # the pace has recovered: only the group's waiting replies hold the next ones back
    later = [escalation(opened, n) for n in (8, 9)]
    await deliverer.process([record_at(e, i) for i, e in enumerate(later)])
    assert posted_for(state, channel) == [str(e.id) for e in [opened, *first[:4]]]
    assert set((await delivery_states(uow, [*first[4:], *later])).values()) == {"queued"}

    await drain_replies(lane)
    assert posted_for(state, channel) == [str(e.id) for e in [opened, *first, *later]]
    [message] = [m for m in state.messages if m["channel"] == channel and m["thread_ts"] is None]
    assert all(m["thread_ts"] == message["ts"] for m in state.messages if m["channel"] == channel and m is not message)
    assert set((await delivery_states(uow, [*first, *later])).values()) == {"sent"}


async def test_a_queued_reply_whose_lane_died_is_taken_over_after_its_lease_and_not_posted_twice(uow, slack) -> None:  # type: ignore[no-untyped-def]
    """Replica B's reply lane claimed two queued replies and died: after posting one (not recorded),
    before posting the other. Replica A waits out B's lease, then finds the first in its thread and
    posts only the second."""
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    clock = Clock()
    client = SlackClient("xoxb-test", base_url)
    deliverer, lane = notifier_with_reply_lane(uow, lambda _: client, clock)
    opened = [request(channel) for _ in range(2)]
    await deliverer.process([record_at(e, i) for i, e in enumerate(opened)])
    clock.now += 60
    inline = [escalation(opened[0], 1), escalation(opened[0], 2), escalation(opened[1], 1), escalation(opened[1], 2),
              escalation(opened[0], 3)]
    queued = [escalation(opened[1], 3), escalation(opened[0], 4)]
    await deliverer.process([record_at(e, i) for i, e in enumerate([*inline, *queued])])
    assert set((await delivery_states(uow, queued)).values()) == {"queued"}

    now = datetime.now(UTC)
    async with uow() as work:  # B's lane claims both heads...
        claimed = await ReplyRepository(work.connection).claim_due(now, "replica-b", now + timedelta(minutes=5), 50)
        await work.commit()
    assert {c.env.id for c in claimed} == {e.id for e in queued}
    [posted_by_b] = [c for c in claimed if c.env.id == queued[0].id]
    b_post = await client.post(posted_by_b.call(), str(posted_by_b.env.id))  # ...posts one, and is killed
    assert b_post.ok

    clock.now += 60
    await lane.step()
    assert posted_for(state, channel).count(str(queued[1].id)) == 0  # B's lease lives: nothing taken over yet
    async with uow() as work:  # ...until it runs out
        await work.connection.execute(text("UPDATE notifier.replies SET lease_until = now() - interval '1 second' "
                                           "WHERE request_id = ANY(:r)"), {"r": [e.id for e in queued]})
        await work.commit()
    await drain_replies(lane)
    ids = posted_for(state, channel)
    assert ids.count(str(queued[0].id)) == 1 and ids.count(str(queued[1].id)) == 1
    assert state.calls["conversations.replies"] >= 2  # both looked for in their thread: B may have posted either
    [(status, ts)] = await rows(uow, "SELECT state, message_ts FROM notifier.deliveries WHERE request_id = :r",
                                r=queued[0].id)
    assert (status, ts) == ("sent", b_post.ts)
    delivered = [e for e in await outbox_events(uow, opened[1].key) if e.causation_id == queued[0].id]
    assert [(e.type, e.data.message_ts) for e in delivered] == [("notification.delivered", b_post.ts)]
    assert set((await delivery_states(uow, queued)).values()) == {"sent"}
