"""Assembles a service: migrations, engine, broker, consumers, relay, config view, HTTP, health.

Each service's `main.py` builds a `Service` in `create_service(settings)` (its composition root)
and calls `run()`; tests build the same thing with other settings.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from signalcraft_schemas import Envelope

from .config_view import ConfigView
from .consumer import (
    TRANSIENT_DATABASE_ERRORS, BatchConsumer, Consumer, CrashPoint, PendingT, SideEffectConsumer, SideEffectHandler,
    is_transient,
)
from . import metrics
from .crypto import SecretBox
from .database import ServiceTables, create_engine
from .kafka_client import faststream_broker_options, kafka_client_options
from .logs import configure_logging, get_logger
from .migrate import upgrade
from .publisher import KafkaPublisher
from .relay import OutboxRelay
from .settings import ServiceSettings
from .tasks import cancel_and_wait
from .telemetry import configure_tracing, instrument_http
from .topics import TopicLayout, ensure_topics
from .unit_of_work import UnitOfWorkFactory

log = get_logger(__name__)

BackgroundTask = Callable[["Service"], Awaitable[None]]


@dataclass
class Service:
    name: str
    settings: ServiceSettings
    tables: ServiceTables  # the service's schema, with its inbox and outbox
    migrations: Path
    needs_config: bool = False
    routers: list[APIRouter] = field(default_factory=list)
    background: list[BackgroundTask] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    on_startup: list[Callable[["Service"], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[["Service"], Awaitable[None]]] = field(default_factory=list)
    # Run after migrations and before the consumers join their groups (e.g. to read which group a
    # rebuilt projection consumes in).
    before_consuming: list[Callable[["Service"], Awaitable[None]]] = field(default_factory=list)
    # Called with the FastAPI app once its routes are in, before it starts: middleware such as CORS.
    app_setup: list[Callable[[FastAPI], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = self.tables.schema
        self.engine = create_engine(self.settings.database_url, self.settings.db_pool_size)
        self.uow = UnitOfWorkFactory(self.engine, self.tables)
        # Every Kafka client connects with kafka_client_options: bad Kafka settings stop the service here.
        self.config = (ConfigView(kafka_client_options(self.settings, f"{self.name}-config"),
                                  fetch_max_wait_ms=self.settings.config_fetch_max_wait_ms)
                       if self.needs_config else None)
        self.secrets = SecretBox(self.settings.secret_key) if self.settings.secret_key else None
        self._tracer = configure_tracing(self.name, self.settings.otlp_endpoint)
        # FastStream runs the subscribers; everything a service emits goes through its outbox relay,
        # which has its own producer, so the broker needs none. Nor FastStream's telemetry: the
        # runtime's consumer traces each record itself (telemetry.py).
        self.broker = self._new_broker()
        self.publisher = KafkaPublisher(kafka_client_options(self.settings, f"{self.name}-relay"),
                                        self.settings.publish_linger_ms, self.settings.publish_max_batch_bytes)
        self.relay = OutboxRelay(self.engine, self.settings.database_url, self.tables, self.publisher,
                                 linger_s=self.settings.relay_linger_ms / 1000)
        self.uow.on_commit(self.relay.wake)
        self.broker_started = False
        self.draining = False  # SIGTERM received: readiness fails, intake is stopping
        self._consuming = False
        self._tasks: list[asyncio.Task[Any]] = []

    def _new_broker(self) -> KafkaBroker:
        return KafkaBroker(
            **faststream_broker_options(kafka_client_options(self.settings, self.name)),
            consumer_only=True,
            graceful_timeout=30.0,
            log_level=10,  # FastStream's per-message lines at DEBUG
        )

    async def restart_consuming(self, between: Callable[[], Awaitable[None]]) -> None:
        """Stop every consumer (in-flight batches finish and commit their offsets), run `between` while
        none consumes (e.g. empty a projection and move its consumer to a new group, which starts at
        offset 0), then consume again on a new broker client, whether `between` succeeded or raised."""
        await self._stop_consuming()
        try:
            await between()
        finally:
            self.broker = self._new_broker()
            await self._start_consuming()

    async def _start_consuming(self) -> None:
        for consumer in self.consumers:
            consumer.register(self.broker, self.settings)
        await self.broker.start()
        self._consuming = True

    def add_consumer(self, group_id: str, topics: list[str], handler: Any,
                     sync_config_every_batch: bool = False, alert_path: bool = False) -> BatchConsumer:
        """`sync_config_every_batch`: the handler's decisions must reflect every configuration change
        made before its events arrived (routing rules), at one broker round trip per batch.
        Otherwise the config view is brought up to date only for workspaces it has not seen.
        `alert_path`: the consumer is a hop of webhook -> Slack and fetches with short waits; a
        consumer off it (read models, timers) fetches with long ones, which cost an idle broker less."""
        prepare = None
        if self.config is not None:
            prepare = self.sync_config if sync_config_every_batch else self.know_workspaces
        consumer = BatchConsumer(group_id=group_id, topics=topics, handler=handler, uow_factory=self.uow,
                                 crash_point=CrashPoint(self.settings.crash_after_records), prepare=prepare,
                                 alert_path=alert_path)
        self.consumers.append(consumer)
        return consumer

    def add_side_effect_consumer(self, group_id: str, topics: list[str], handler: SideEffectHandler[PendingT],
                                 accepts: tuple[type, ...], alert_path: bool = False) -> SideEffectConsumer[PendingT]:
        """A consumer whose work has an effect outside the database, between two transactions
        (SideEffectConsumer); messages of other types than `accepts` are dead-lettered. `alert_path`
        as for `add_consumer`."""
        consumer = SideEffectConsumer(group_id=group_id, topics=topics, handler=handler, accepts=accepts,
                                      uow_factory=self.uow, crash_point=CrashPoint(self.settings.crash_after_records),
                                      alert_path=alert_path)
        self.consumers.append(consumer)
        return consumer

    def add_drain_loop(self, name: str, step: Callable[[], Awaitable[int]], every_s: float,
                       pause: Callable[[], Awaitable[None]] | None = None) -> None:
        """A background task that runs `step` until it reports nothing done (0), then again after
        `every_s`, or once `pause` returns (e.g. at the next due time). A database outage is logged
        and waited out (`every_s`); any other error stops the task, and /readyz names it."""

        async def loop(_: Service) -> None:
            while True:
                try:
                    while await step() > 0:
                        pass
                    if pause is not None:
                        await pause()
                        continue
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("background work postponed, database unavailable", task=name, error=repr(exc))
                await asyncio.sleep(every_s)

        loop.__name__ = name
        self.background.append(loop)

    async def sync_config(self, envelopes: list[Envelope[Any]]) -> None:
        assert self.config is not None
        await self.config.sync(exact=False)  # before every batch: one question to the broker, no fetch

    async def know_workspaces(self, envelopes: list[Envelope[Any]]) -> None:
        """An event from a workspace the config view has not seen yet was caused by a config write the
        view trails behind (ingest accepted the alert, so the workspace exists): catch up first."""
        assert self.config is not None
        workspaces = self.config.state.workspaces
        if any(e.workspace_id not in workspaces for e in envelopes):
            await self.config.sync()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._guard(coro, name), name=name)
        self._tasks.append(task)
        return task

    async def _guard(self, coro: Awaitable[Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task crashed", task=name)
            raise

    async def start(self) -> None:
        await asyncio.to_thread(upgrade, self.settings.database_url, self.schema, self.migrations)
        await ensure_topics(kafka_client_options(self.settings, f"{self.name}-admin"),
                            TopicLayout(self.settings.topic_partitions, self.settings.topic_replication_factor),
                            create=self.settings.create_topics)
        if self.config is not None:
            # Processing with half the configuration would route or window alerts wrongly: wait.
            await self.config.start()
            await self.config.wait_ready()
        for prepare in self.before_consuming:
            await prepare(self)
        await self._start_consuming()
        await self.publisher.start()
        self.broker_started = True
        self.spawn(self.relay.run(), "outbox-relay")
        self.spawn(metrics.track_consumer_lag(CurrentSubscribers(self)), "consumer-lag")
        self.spawn(self._prune_inbox(), "inbox-pruning")
        for hook in self.on_startup:
            await hook(self)
        for task in self.background:
            self.spawn(task(self), task.__name__)
        log.info("service started", port=self.settings.http_port)

    async def _prune_inbox(self, every_s: float = 3600.0) -> None:
        """The inbox only has to outlive redelivery: keep `inbox_retention_days` of event ids."""
        while True:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(text(
                        f'DELETE FROM "{self.schema}".inbox WHERE processed_at < now() - make_interval(days => :d)'),
                        {"d": self.settings.inbox_retention_days})
            except Exception as exc:
                log.warning("inbox not pruned", error=repr(exc))
            await asyncio.sleep(every_s)

    async def drain(self) -> None:
        """What SIGTERM starts, while HTTP still serves: readiness fails at once; consumers finish their
        in-flight batches, commit their offsets and leave their groups; after `drain_delay_seconds`
        (load balancers have stopped sending) `run` lets HTTP intake stop, then `stop` follows."""
        self.draining = True
        log.info("draining", delay_s=self.settings.drain_delay_seconds)
        await asyncio.gather(self._stop_consuming(), asyncio.sleep(self.settings.drain_delay_seconds))

    async def _stop_consuming(self) -> None:
        """FastStream waits for in-flight batches (up to its graceful timeout), which commit their offsets."""
        if self._consuming:
            self._consuming = False
            with suppress(Exception):
                await self.broker.stop()

    async def stop(self) -> None:
        # Consumers first, so no batch is cut off between its transaction and its offset commit, nor
        # loses what a hook closes (the notifier's Slack sessions).
        await self._stop_consuming()
        for hook in self.on_shutdown:
            with suppress(Exception):
                await hook(self)
        if self.broker_started:  # what the last batches and requests emitted goes out now, not at the next start
            with suppress(Exception):
                await self.relay.wait_published(timeout=5.0)
        for task in self._tasks:
            await cancel_and_wait(task)
        if self.config is not None:
            await self.config.stop()
        with suppress(Exception):
            await self.publisher.stop()
        await self.engine.dispose()
        if self._tracer is not None:  # export the spans still batched
            await asyncio.to_thread(self._tracer.force_flush, 5000)

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        if self.draining:
            checks["shutdown"] = "draining"
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc.__class__.__name__}"
        checks["broker"] = "ok" if self.broker_started else "starting"
        # A replica standing by for the relay lock is ready: another replica publishes this schema.
        checks["outbox_relay"] = "ok" if self.relay.connected else "starting"
        if self.relay.last_error:
            checks["outbox_relay"] = f"retrying: {self.relay.last_error[:200]}"
        if self.config is not None:
            checks["config"] = "ok" if self.config.ready.is_set() else "catching up"
        # Until it has joined its consumer group a replica processes nothing: not ready yet.
        waiting = [c.group_id for c in self.consumers if c.stats.rebalances == 0]
        checks["consumer_groups"] = "ok" if not waiting else f"joining: {waiting}"
        dead = self.dead_tasks()
        checks["background"] = "ok" if not dead else f"stopped: {dead}"
        return checks

    def dead_tasks(self) -> list[str]:
        return [t.get_name() for t in self._tasks if t.done()]

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=f"SignalCraft {self.name}", lifespan=lifespan)
        app.state.service = self
        self.app_state = app.state

        @app.get("/healthz", tags=["health"])
        async def healthz() -> JSONResponse:
            """Liveness: a background task (relay, flush, timers) that died is only cured by a restart."""
            dead = [] if self.draining else self.dead_tasks()
            return JSONResponse({"status": "ok" if not dead else "failed", "service": self.name, "stopped": dead},
                                status_code=200 if not dead else 503)

        @app.get("/readyz", tags=["health"])
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            ok = all(v == "ok" for v in checks.values())
            consumers = {c.group_id: vars(c.stats) for c in self.consumers}
            return JSONResponse({"ready": ok, "service": self.name, "checks": checks, "consumers": consumers,
                                 "outbox_published": self.relay.published}, status_code=200 if ok else 503)

        @app.get("/metrics", tags=["health"])
        async def prometheus_metrics() -> Response:
            """Prometheus text format: this process's metrics (metrics.py, docs/operate.md)."""
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

        for router in self.routers:
            app.include_router(router)
        for setup in self.app_setup:
            setup(app)
        refuse_unstorable_input(app)
        answer_database_trouble_with_503(app)
        instrument_http(app)
        return app

    def run(self) -> None:
        configure_logging(self.name, self.settings.log_level, self.settings.log_format)
        config = uvicorn.Config(
            self.app(), host=self.settings.http_host, port=self.settings.http_port, log_config=None,
            loop="uvloop", http="httptools", lifespan="on", timeout_graceful_shutdown=20, access_log=False,
        )
        DrainingServer(config, self).run()


class CurrentSubscribers:
    """The subscribers of the service's broker as it is now (`restart_consuming` replaces the broker)."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def __iter__(self) -> Any:
        return iter(self._service.broker.subscribers)


def refuse_unstorable_input(app: FastAPI) -> None:
    """Every service answers a client's bad input with a 422 and a reason, never a 500: a NUL in the
    URL (PostgreSQL's text cannot hold it) is refused before any route runs, and a validation error
    is reported without echoing the input, which may itself be unencodable (a lone surrogate, an
    infinite float) and would turn the 422 into a 500."""
    app.add_middleware(RefuseNulInUrl)

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [_printable(part) for part in error.get("loc", ())], "msg": _printable(error.get("msg", "")),
                   "type": _printable(error.get("type", ""))} for error in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]


# How long a client is asked to wait when the database was briefly unable to answer.
DATABASE_RETRY_AFTER_S = 5


def answer_database_trouble_with_503(app: FastAPI) -> None:
    """A request the database could not serve just now (connection lost, pool exhausted, a deadlock
    or lock timeout PostgreSQL broke by aborting it, e.g. behind a read-model rebuild's TRUNCATE) is
    answered 503 with Retry-After: the client's request was fine, and trying again will work."""

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("request not served, database unavailable", path=request.url.path, error=repr(exc)[:300])
        return JSONResponse({"error": "the database is temporarily unable to answer; retry"}, status_code=503,
                            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    for error in TRANSIENT_DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)


def _printable(value: Any) -> Any:
    """`value` for a JSON answer: numbers as they are, text with unencodable characters replaced."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")


class RefuseNulInUrl:
    """ASGI middleware: 422 for a NUL (%00) in the path or the query string."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and ("\x00" in scope.get("path", "")
                                        or b"\x00" in unquote_to_bytes(scope.get("query_string", b""))):
            body = json.dumps({"detail": "the URL contains a NUL character (%00)"}).encode()
            await send({"type": "http.response.start", "status": 422,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain between SIGTERM and its shutdown (`Service.drain`).

    A second signal, SIGINT (Ctrl-C) or a SIGTERM before the service has started stops at once, as
    uvicorn does: it stops HTTP, waits for requests in flight, then runs `Service.stop`.
    """

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if sig != signal.SIGTERM or self._drain is not None or not self.service.broker_started or self._loop is None:
            super().handle_exit(sig, frame)
            return
        # A signal handler runs between two bytecodes of the loop's thread: hand the work to the loop.
        self._loop.call_soon_threadsafe(self._start_drain, sig)

    def _start_drain(self, sig: int) -> None:
        if self._drain is None:
            self._drain = asyncio.ensure_future(self.service.drain())
            self._drain.add_done_callback(lambda _: super(DrainingServer, self).handle_exit(sig, None))
