"""The notifier's delivery flow against real PostgreSQL and a fake Slack Web API over HTTP.

These pin down what the kill -9 end-to-end test can only hit by chance: a crash after Slack answered
and before the outcome was committed must not produce a second message.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
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
from signalcraft_notifier.domain.delivery import DeliveryBatch
from signalcraft_notifier.handlers import NotificationDelivery
from signalcraft_notifier.repository import tables
from signalcraft_runtime.consumer import SideEffectConsumer
from signalcraft_runtime.database import create_engine
from signalcraft_runtime.migrate import upgrade
from signalcraft_runtime.unit_of_work import UnitOfWorkFactory
from signalcraft_schemas import Envelope, Severity, decode, encode
from signalcraft_schemas.events import GroupSnapshot, GroupStatus, NotificationKind, NotificationRequested

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


def notifier_consumer(uow: UnitOfWorkFactory, slack: Callable[[str], SlackClient | None],
                      sleep: Callable[[float], Awaitable[None]],
                      sync_config: Callable[[], Awaitable[bool]] | None = None) -> SideEffectConsumer[DeliveryBatch]:
    """The notifier's consumer as main.py assembles it, with a given Slack and sleep."""
    return SideEffectConsumer(group_id="notifier", topics=["notifications.requested"],
                              handler=NotificationDelivery(SlackGateway(slack, sleep=sleep), sync_config=sync_config),
                              accepts=(NotificationRequested,), uow_factory=uow)


async def test_after_a_crash_between_slack_and_commit_the_message_is_found_not_posted_again(uow, slack) -> None:  # type: ignore[no-untyped-def]
    state, base_url = slack
    channel = f"#c-{secrets.token_hex(3)}"
    env = request(channel)
    client = SlackClient("xoxb-test", base_url)
    # Before the crash: `sending` was committed and Slack accepted the post (with our metadata)...
    posted = await client.post(channel, "Boom", [], str(env.id))
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
