"""The input checks the fuzz suite found missing, each pinned by the smallest case that made a 500,
without a running system (test_fuzz.py checks the same ones end to end)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, ValidationError

from signalcraft_ingest.adapters.request_body import read_body
from signalcraft_ingest.domain.errors import AuthenticationFailed, MalformedPayload, UnsupportedPayload
from signalcraft_ingest.domain.providers.base import Integration, ParsedWebhook
from signalcraft_ingest.domain.providers.common import redacted_body
from signalcraft_ingest.domain.sns_verification import check_https_url
from signalcraft_ingest.handlers import parse
from signalcraft_query_api.adapters.command_api import CommandIn
from signalcraft_query_api.adapters.config_api import IntegrationIn, RuleIn, SlackIn, WorkspaceIn
from signalcraft_runtime.service import refuse_unstorable_input
from signalcraft_schemas import NormalizedAlert, Severity


class Body(BaseModel):
    name: str
    count: int


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    async def items(q: str = "") -> dict[str, str]:
        return {"q": q}

    @app.post("/items")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    refuse_unstorable_input(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare_app()), base_url="http://svc") as c:
        yield c


@pytest.mark.parametrize("url", ["/items?q=a%00b", "/items?%00=1", "/it%00ems", "/items?q=x&q=%00"])
async def test_a_nul_anywhere_in_the_url_is_422_with_a_reason(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"]


async def test_a_url_without_nul_reaches_the_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/items?q=%C3%A9%20ok")
    assert (response.status_code, response.json()) == (200, {"q": "é ok"})


@pytest.mark.parametrize("body", [
    b'{"name": "\\ud800", "count": "x"}',  # a lone surrogate echoed back made the 422 unencodable
    b'{"name": 1e309, "count": 1}',  # infinity: not JSON, so not in a JSON answer either
    b'{"name": "ok", "count": NaN}',
    b'{"\\udfff": 1}',
])
async def test_a_validation_error_is_422_and_does_not_echo_the_input(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/items", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors and all(set(error) == {"loc", "msg", "type"} for error in errors)


@pytest.mark.parametrize(("model", "data"), [
    (WorkspaceIn, {"name": "a\x00b"}),
    (WorkspaceIn, {"name": "ok", "default_channel": "\ud800"}),
    (IntegrationIn, {"workspace_id": "w", "provider": "sentry", "name": "n", "options": {"k\x00": "v"}}),
    (SlackIn, {"workspace_id": "w", "bot_token": "xoxb-1", "signing_secret": "s", "team_id": "\x00" * 8}),
    (RuleIn, {"workspace_id": "w", "name": "n", "channel": "#c", "conditions": {"projects": ["p\x00"]}}),
    (RuleIn, {"workspace_id": "w", "name": "n", "channel": "#c", "position": -(10**30)}),
    (RuleIn, {"workspace_id": "w", "name": "n", "channel": "#c", "position": 2**63}),
    (WorkspaceIn, {"name": "ok", "dedup_window": 10**30}),  # timedelta's OverflowError slipped past validation
    (WorkspaceIn, {"name": "ok", "flap_window": "99999999999d"}),
    # A control character in a token that travels in a header: every Slack call failed in the HTTP client.
    (SlackIn, {"workspace_id": "w", "bot_token": "xoxb-fuzz\x0b-1", "signing_secret": "s"}),
    (IntegrationIn, {"workspace_id": "w", "provider": "alertmanager", "name": "n", "secret": "user:pa ss\x7f"}),
    (CommandIn, {"until": "9999-12-31T23:59:59-23:59"}),
    (CommandIn, {"reason": "why\x00"}),
])
def test_api_bodies_the_database_cannot_store_are_refused(model: type[BaseModel], data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_a_body_nested_deeper_than_python_recursion_is_checked_without_recursing() -> None:
    nested: object = "\x00"
    for _ in range(5000):
        nested = {"a": nested}
    with pytest.raises(ValidationError, match="NUL"):
        WorkspaceIn.model_validate({"name": "ok", "extra": nested})


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/SimpleNotificationService-1.pem\x00", "https://127.0.0.1/a b.pem",
    "https://127.0.0.1/\x1f.pem", "https://127.0.0.1/é.pem",
])
def test_sns_urls_with_control_characters_are_refused_before_any_fetch(url: str) -> None:
    with pytest.raises(AuthenticationFailed, match="not a valid URL"):
        check_https_url(url, re.compile(r"^127\.0\.0\.1$"), "SigningCertURL", require_pem=True)


class EmptyProject:
    """A normalizer handing NormalizedAlert a value it refuses (here an empty project). Seen as a 500:
    a signed PagerDuty resolve whose dedup_key was only control characters became an empty fingerprint."""

    name = "pagerduty"

    def parse(self, request: object, integration: Integration) -> NormalizedAlert:
        return NormalizedAlert(source="pagerduty", source_event_id="e", project="", environment="prod",
                               fingerprint="\x0b", title="t", severity=Severity.LOW, occurred_at=datetime.now(UTC))


def test_a_normalized_alert_the_schema_refuses_is_an_unsupported_payload_naming_the_field() -> None:
    integration = Integration("pag-1", "ws", "pagerduty", "secret")
    with pytest.raises(UnsupportedPayload, match="project: String should have at least 1 character"):
        parse(EmptyProject(), None, integration)  # type: ignore[arg-type]


def test_a_pagerduty_body_too_deep_to_store_redacted_is_an_unsupported_payload() -> None:
    """orjson reads 1,024 levels and writes 255: redacting the routing_key of a deeper body was a 500."""
    nested: object = 1
    for _ in range(600):
        nested = [nested]
    with pytest.raises(UnsupportedPayload, match="cannot be stored"):
        redacted_body({"routing_key": "secret", "payload": nested}, ("routing_key",))


class NulDeliveryId:
    """A provider passing on a signed SNS MessageId with a NUL as the delivery id."""

    name = "cloudwatch"

    def parse(self, request: object, integration: Integration) -> ParsedWebhook:
        return ParsedWebhook(alerts=[], delivery_key="a4ebc040-\x00e6bf")


def test_a_delivery_id_with_control_characters_is_an_unsupported_payload() -> None:
    """It was a 503 "unable to store" (PostgreSQL refuses NUL in text), which SNS would retry for ever."""
    with pytest.raises(UnsupportedPayload, match="delivery id"):
        parse(NulDeliveryId(), None, Integration("clo-1", "ws", "cloudwatch", "secret"))  # type: ignore[arg-type]


async def test_a_client_gone_before_its_body_ended_is_a_refusal_not_an_unhandled_error() -> None:
    """Seen as "Exception in ASGI application" with a traceback (rendered with its locals) per request.
    Webhooks and Slack clicks read their body through this one function."""
    messages = iter([{"type": "http.request", "body": b'{"a": ', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> dict[str, Any]:
        return next(messages)

    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/", "query_string": b""}, receive)
    with pytest.raises(MalformedPayload, match="connection closed"):
        await read_body(request, 1024)
