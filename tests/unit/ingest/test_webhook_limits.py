"""Ingest's limits over HTTP, with the real routes and handler and a stand-in writer: 429 with
Retry-After over an integration's rate limit, 503 with Retry-After at the in-flight bound, at the
writer's queue bound and while the configuration may be incomplete; what is stored is redacted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI

from signalcraft_ingest.adapters.http import webhook_router
from signalcraft_ingest.adapters.integrations import IntegrationDirectory
from signalcraft_ingest.adapters.rate_limits import InFlightLimit, WebhookRateLimiter
from signalcraft_ingest.domain.limits import RateLimit
from signalcraft_ingest.handlers import WebhookHandler
from signalcraft_ingest.repository import Delivery, WriterBusy
from signalcraft_runtime.config_view import ConfigState
from signalcraft_runtime.crypto import SecretBox
from signalcraft_schemas.events import IntegrationConfigured

from .helpers import hex_hmac

BOX = SecretBox(SecretBox.generate_key())
SECRET = "sentry-client-secret"
ROUTING_KEY = "R0UTINGKEY0000000000000000000000"
ISSUE = {"action": "created", "data": {"issue": {"id": "42", "title": "boom", "level": "error",
                                                 "project": {"slug": "backend"}, "lastSeen": "2024-05-01T11:00:00Z"}}}


class Writer:
    """Takes deliveries; `gate` holds them until set; `busy` refuses them as a full queue would."""

    def __init__(self, busy: bool = False) -> None:
        self.stored: list[Delivery] = []
        self.busy = busy
        self.gate = asyncio.Event()
        self.gate.set()

    async def store(self, delivery: Delivery) -> bool:
        if self.busy:
            raise WriterBusy("2000 deliveries are already waiting to be stored")
        await self.gate.wait()
        self.stored.append(delivery)
        return True


def state() -> ConfigState:
    config = ConfigState()
    for integration_id, provider, secret, options in (
            ("sen-1", "sentry", SECRET, {"rate_limit_per_second": "1", "rate_limit_burst": "3"}),
            ("pag-1", "pagerduty", ROUTING_KEY, {})):
        config.integrations[integration_id] = IntegrationConfigured(
            integration_id=integration_id, workspace_id="ws-1", provider=provider, name=provider,
            secret_encrypted=BOX.encrypt(secret), options=options)
    return config


def client(writer: Writer, **handler_options: Any) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(webhook_router(lambda request: request.app.state.webhook_handler, max_body_bytes=1_000_000))
    app.state.webhook_handler = WebhookHandler(IntegrationDirectory(state(), BOX), writer, context=None,  # type: ignore[arg-type]
                                               **handler_options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


def signed(body: dict[str, Any], request_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Sentry-Hook-Signature": hex_hmac(SECRET, raw), "Request-ID": request_id,
                 "Sentry-Hook-Resource": "issue", "Content-Type": "application/json"}


async def send_issue(http: httpx.AsyncClient, n: int) -> httpx.Response:
    body, headers = signed({**ISSUE, "data": {"issue": {**ISSUE["data"]["issue"], "id": str(n)}}}, f"r-{n}")
    return await http.post("/webhooks/sentry/sen-1", content=body, headers=headers)


async def test_over_the_rate_limit_is_429_with_retry_after_counted_and_nothing_accepted_is_lost() -> None:
    writer, limiter = Writer(), WebhookRateLimiter(RateLimit(per_second=100, burst=100))
    async with client(writer, limiter=limiter) as http:
        answers = [await send_issue(http, n) for n in range(5)]
        forged = await http.post("/webhooks/sentry/sen-1", content=b"{}", headers={"Sentry-Hook-Signature": "00"})
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]  # the integration's burst of 3
    assert int(answers[3].headers["retry-after"]) >= 1 and "rate limit" in answers[3].json()["error"]
    assert forged.status_code == 401  # authenticated first: a forger spends no tokens, and is not counted
    assert len(writer.stored) == 3  # every 202 stored; no 429 stored
    [span] = limiter.throttled.take()
    assert (span.integration_id, span.count) == ("sen-1", 2)


async def test_beyond_the_in_flight_bound_is_503_with_retry_after() -> None:
    writer = Writer()
    writer.gate.clear()  # the first two webhooks wait in the writer, holding their slots
    async with client(writer, in_flight=InFlightLimit(2)) as http:
        held = [asyncio.create_task(send_issue(http, n)) for n in range(2)]
        await asyncio.sleep(0.05)  # both are in the writer
        busy = await send_issue(http, 3)
        writer.gate.set()
        assert [(await t).status_code for t in held] == [202, 202]
        after = await send_issue(http, 4)
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
    assert after.status_code == 202


async def test_a_full_writer_queue_is_503_with_retry_after_and_nothing_stored() -> None:
    writer = Writer(busy=True)
    async with client(writer) as http:
        answer = await send_issue(http, 1)
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) >= 1
    assert "queue" in answer.json()["error"] and writer.stored == []


async def test_an_unknown_integration_is_503_until_the_view_is_complete_then_404() -> None:
    ready = False

    async def sync() -> bool:
        return True

    async with client(Writer(), sync_config=sync, config_ready=lambda: ready) as http:
        loading = await http.post("/webhooks/sentry/sen-restored", content=b"{}")
        unknown_key = await http.post("/v2/enqueue", json={"routing_key": "not-yet-known", "event_action": "trigger"})
        ready = True
        unknown = await http.post("/webhooks/sentry/sen-restored", content=b"{}")
    assert loading.status_code == 503 and int(loading.headers["retry-after"]) >= 1
    assert unknown_key.status_code == 503
    assert unknown.status_code == 404


async def test_a_pagerduty_event_is_stored_without_its_routing_key() -> None:
    writer = Writer()
    event = {"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "d-1",
             "payload": {"summary": "down", "source": "web-1", "severity": "critical"}}
    async with client(writer) as http:
        answer = await http.post("/v2/enqueue", json=event, headers={"User-Agent": f"agent {ROUTING_KEY}"})
    assert answer.status_code == 202
    [delivery] = writer.stored
    assert ROUTING_KEY.encode() not in delivery.body
    assert json.loads(delivery.body) == {**event, "routing_key": "[redacted]"}
    assert "user-agent" not in delivery.headers  # a kept header that carries the secret is not kept


async def test_a_sentry_delivery_carries_its_replay_key_for_the_window() -> None:
    writer = Writer()
    async with client(writer, replay_window_s=3600) as http:
        await send_issue(http, 1)
    [delivery] = writer.stored
    assert delivery.replay_key is not None and delivery.replay_window_s == 3600
