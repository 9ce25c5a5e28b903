"""Faults injected into the runtime: a batch is never acked unprocessed, connection drops count as
transient however they surface, a stale relay error clears, and SIGTERM drains before it stops."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import wait_none

from signalcraft_runtime.config_view import ConfigView
from signalcraft_runtime.consumer import ConsumerStats, is_transient, process_until_done, subscribe_batches
from signalcraft_runtime.database import ServiceTables
from signalcraft_runtime.relay import OutboxRelay
from signalcraft_runtime.service import DrainingServer, Service
from signalcraft_runtime.settings import ServiceSettings


def test_connection_drops_and_pool_timeouts_are_transient_however_they_surface() -> None:
    assert is_transient(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
    assert is_transient(psycopg.OperationalError("the connection is lost"))  # raw, from the driver connection
    assert is_transient(psycopg.InterfaceError("the connection is closed"))
    assert is_transient(PoolTimeout("QueuePool limit of size 10 overflow 0 reached"))
    assert not is_transient(ValueError("a message we cannot process"))
    assert not is_transient(psycopg.errors.UniqueViolation("duplicate key"))


class Failing:
    """A batch processor that raises each of `errors` in turn, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, records: list[Any]) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


async def test_a_batch_that_raises_is_tried_again_until_it_is_processed() -> None:
    process = Failing(
        KafkaConnectionError("config view sync: no broker"),  # prepare's config sync
        PoolTimeout("QueuePool limit reached"),  # a dead-letter write waiting for a connection
        RuntimeError("IntegrityError in begin: two replicas overlapped"),
    )
    stats = ConsumerStats()
    await process_until_done(process, [], stats, "test", wait=wait_none())
    assert process.calls == 4
    assert stats.last_error is not None and "IntegrityError" in stats.last_error


async def test_cancellation_stops_the_retries_and_is_not_swallowed() -> None:
    async def forever_failing(records: list[Any]) -> None:
        raise RuntimeError("down")

    task = asyncio.create_task(process_until_done(forever_failing, [], ConsumerStats(), "test"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_subscriber_retries_a_failing_batch_instead_of_acking_it() -> None:
    broker = KafkaBroker()
    process = Failing(RuntimeError("deadletter_once failed"))  # one failure: one backoff pause (0.5 s)
    stats = ConsumerStats()
    subscribe_batches(broker, ServiceSettings(), "group", ["topic"], process, stats)
    async with TestKafkaBroker(broker, with_real=False) as test_broker:
        await test_broker.publish(b"a", topic="topic")
    assert process.calls == 2 and stats.last_error is not None


async def test_a_config_sync_that_fails_answers_false_instead_of_raising() -> None:
    view = ConfigView({"bootstrap_servers": "127.0.0.1:1"})

    class BrokenProbe:
        async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
            raise KafkaConnectionError("no broker")

    view._probe, view._partitions = BrokenProbe(), [TopicPartition("config", 0)]  # type: ignore[assignment]
    assert await view.sync(timeout=1) is False


async def test_the_relay_clears_an_error_from_before_once_it_has_caught_up() -> None:
    relay = OutboxRelay(None, "postgresql://x/y", ServiceTables("t"), None, poll_interval=0.01)  # type: ignore[arg-type]
    relay.last_error = "OperationalError('connection failed: Connection refused')"
    caught_up = asyncio.Event()

    async def nothing_to_publish(after_id: int) -> list[Any]:
        caught_up.set()
        return []

    relay._read = nothing_to_publish  # type: ignore[method-assign]
    pipeline = asyncio.create_task(relay._pipeline())
    await asyncio.wait_for(caught_up.wait(), 5)
    await asyncio.sleep(0)
    pipeline.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pipeline
    assert relay.last_error is None


def service(**settings: Any) -> Service:
    return Service(name="t", settings=ServiceSettings(database_url="postgresql://127.0.0.1:1/none", **settings),
                   tables=ServiceTables("t"), migrations=Path("."))


async def test_a_drain_loop_waits_out_a_raw_driver_error() -> None:
    svc, done = service(), asyncio.Event()
    outcomes: list[BaseException | int] = [psycopg.errors.AdminShutdown("terminating connection"), 0]

    async def step() -> int:
        outcome = outcomes.pop(0) if outcomes else 0
        if not outcomes:
            done.set()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    svc.add_drain_loop("flush", step, every_s=0.01)
    task = asyncio.create_task(svc.background[-1](svc))
    await asyncio.wait_for(done.wait(), 5)
    assert not task.done()  # it survived the error
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_liveness_fails_once_a_background_task_has_died() -> None:
    svc = service()
    app = svc.app()  # the lifespan (start) is not run: only the health routes are used
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/healthz")).status_code == 200

        async def crash() -> None:
            raise ValueError("a bug")

        task = svc.spawn(crash(), "flush")
        with pytest.raises(ValueError):
            await task
        response = await client.get("/healthz")
    assert response.status_code == 503 and response.json()["stopped"] == ["flush"]


class FakeBroker:
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    async def stop(self) -> None:
        await asyncio.sleep(0.01)  # an in-flight batch finishing
        self.steps.append("consumers stopped")


async def test_sigterm_fails_readiness_and_stops_consuming_before_http_stops() -> None:
    svc, steps = service(drain_delay_seconds=0.2), []
    svc.broker, svc.broker_started, svc._consuming = FakeBroker(steps), True, True  # type: ignore[assignment]
    server = DrainingServer(uvicorn.Config(svc.app()), svc)
    server._loop = asyncio.get_running_loop()

    server.handle_exit(signal.SIGTERM, None)
    await asyncio.sleep(0.1)
    assert svc.draining and not server.should_exit  # readiness fails; HTTP still serves
    assert (await svc.readiness())["shutdown"] == "draining"
    assert steps == ["consumers stopped"]
    await asyncio.sleep(0.3)
    assert server.should_exit  # the delay is over: uvicorn stops HTTP, then runs Service.stop


async def test_a_second_signal_stops_at_once() -> None:
    svc = service(drain_delay_seconds=60)
    svc.broker, svc.broker_started, svc._consuming = FakeBroker([]), True, True  # type: ignore[assignment]
    server = DrainingServer(uvicorn.Config(svc.app()), svc)
    server._loop = asyncio.get_running_loop()
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.sleep(0.05)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit


async def test_stop_drains_consumers_before_the_hooks_close_what_they_use() -> None:
    svc, steps = service(), []
    svc.broker, svc._consuming = FakeBroker(steps), True  # type: ignore[assignment]

    async def close_slack(_: Service) -> None:
        steps.append("slack closed")

    svc.on_shutdown.append(close_slack)
    await svc.stop()
    assert steps == ["consumers stopped", "slack closed"]
