"""The config API's answers when a command is refused or its change is not yet published, over HTTP
with the real routes and handlers, on a stand-in database connection."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from signalcraft_query_api.adapters.config_api import router
from signalcraft_runtime.crypto import SecretBox

TOKEN = "admin-token"


class Statement:
    """What the handler's statement returns: `first()` is the row an INSERT ... RETURNING gave, if any."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def first(self) -> Any:
        return self._row


class Connection:
    """Answers the statements in turn with `rows` (the last one repeats)."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows, self.statements = rows, 0

    async def execute(self, statement: Any, *args: Any) -> Statement:
        self.statements += 1
        return Statement(self.rows[min(self.statements, len(self.rows)) - 1])


class UnitOfWork:
    def __init__(self, service: "Service") -> None:
        self.service, self.connection = service, service.connection

    async def __aenter__(self) -> "UnitOfWork":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def emit(self, envelope: Any) -> None:
        self.service.emitted.append(envelope)

    async def commit(self) -> None:
        self.service.committed += 1


class Service:
    def __init__(self, published: bool | Exception, rows: list[Any] | None = None) -> None:
        key = SecretBox.generate_key()
        self.secrets, self.settings = SecretBox(key), SimpleNamespace(secret_key=key)
        self.connection, self.emitted, self.committed = Connection(rows or [SimpleNamespace(workspace_id="acme")]), [], 0
        self.relay = SimpleNamespace(wait_published=self._wait_published)
        self._published = published

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    async def _wait_published(self) -> bool:
        if isinstance(self._published, Exception):
            raise self._published
        return self._published


def client(service: Service) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.service, app.state.admin_token, app.state.public_ingest_url = service, TOKEN, "https://hooks.example"
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.parametrize("published", [False, OSError("connection lost after the commit")])
def test_a_committed_change_not_yet_published_answers_503_with_retry_after_and_its_result(published: Any) -> None:
    service = Service(published)
    answer = client(service).post("/api/integrations", json={"workspace_id": "acme", "provider": "sentry",
                                                              "name": "Sentry", "secret": "client-secret"})
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    detail = answer.json()["detail"]
    assert detail["committed"] is True and "committed" in detail["error"]
    # The secret is shown once: a 503 must still show it, or the operator could never learn it.
    assert detail["result"]["secret"] == "client-secret" and detail["result"]["workspace_id"] == "acme"
    assert service.committed == 1 and len(service.emitted) == 1


def test_every_config_command_answers_503_when_not_published() -> None:
    rule = {"workspace_id": "acme", "name": "r", "channel": "#c"}
    calls = [("post", "/api/workspaces", {"name": "Acme", "workspace_id": "acme"}),
             ("put", "/api/workspaces/acme", {"name": "Acme"}),
             ("post", "/api/slack/connect", {"workspace_id": "acme", "bot_token": "x", "signing_secret": "y"}),
             ("post", "/api/routing-rules", rule), ("put", "/api/routing-rules/rule-1", rule),
             ("delete", "/api/routing-rules/rule-1", None)]
    for method, path, body in calls:
        answer = client(Service(False)).request(method, path, json=body)
        assert (path, answer.status_code) == (path, 503) and "retry-after" in answer.headers
    assert client(Service(True)).post("/api/workspaces", json={"name": "Acme"}).status_code == 201


def test_a_rule_id_of_another_workspace_is_refused_409_and_nothing_is_emitted() -> None:
    service = Service(True, rows=[("acme",), None])  # the workspace exists; the upsert's WHERE matched no row
    answer = client(service).put("/api/routing-rules/rule-1", json={"workspace_id": "acme", "name": "r", "channel": "#c"})
    assert answer.status_code == 409 and "another workspace" in answer.json()["detail"]
    assert service.emitted == [] and service.committed == 0


def test_a_pagerduty_routing_key_in_use_is_refused_409_and_nothing_is_emitted() -> None:
    service = Service(True, rows=[("acme",), None])  # the workspace exists; the insert met the fingerprint
    answer = client(service).post("/api/integrations", json={"workspace_id": "acme", "provider": "pagerduty",
                                                              "name": "PD", "secret": "routing-key-123"})
    assert answer.status_code == 409 and "already uses this secret" in answer.json()["detail"]
    assert service.emitted == [] and service.committed == 0


def test_a_cloudwatch_integration_without_topic_arns_is_422_with_the_reason() -> None:
    service = Service(True)
    answer = client(service).post("/api/integrations", json={"workspace_id": "acme", "provider": "cloudwatch",
                                                              "name": "CW"})
    assert answer.status_code == 422 and "topic_arns" in answer.json()["detail"]
    assert service.connection.statements == 0
