"""Fuzz suite: generated bad and hostile requests against every webhook endpoint and every query-API
route of the running system -> no 5xx, every refusal a 4xx with a reason, nothing stored for a
refused request, and nothing accepted poisons the pipeline downstream.

`make test` runs a seeded slice (SLICE requests); `make fuzz` the full run
(SIGNALCRAFT_FUZZ_REQUESTS=10000), printing the counts per status class and per endpoint.
SIGNALCRAFT_FUZZ_SEED picks another seed; a failure prints the seed and sample requests to replay.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from signalcraft_devstack.admin import sentry_headers

from .cases import FuzzRequest
from .runner import FuzzReport, run, send_all
from .storage import database_now, pipeline_problems, storage_problems
from .world import (
    DATADOG_TOKEN, FIXTURES, GRAFANA_SIGNATURE, GRAFANA_TIMESTAMP, MAX_BODY_BYTES, SNS_TOPIC, FuzzWorld,
)

pytestmark = pytest.mark.e2e

SLICE = 1000
SEED = 8


def test_hostile_requests_are_refused_with_a_reason_and_leave_nothing_behind(world: FuzzWorld) -> None:
    count = int(os.environ.get("SIGNALCRAFT_FUZZ_REQUESTS", SLICE))
    seed = int(os.environ.get("SIGNALCRAFT_FUZZ_SEED", SEED))
    since = database_now(world)

    report = run(world, seed, count)
    print("\n" + report.summary())

    assert not report.violations, f"{report.summary()}\n{report.violation_samples()}"
    assert not (stored := storage_problems(world, report, since)), stored
    assert not (downstream := pipeline_problems(world, report, since)), downstream


# --- The defects the fuzzing found, each pinned end to end ---------------------------------------


def nul_in_long_text(document: Any) -> Any:
    """`document` with a NUL in the middle of every string longer than 12 characters: titles,
    descriptions, label values, links, ids; status and severity words stay as they are."""
    if isinstance(document, dict):
        return {key: nul_in_long_text(value) for key, value in document.items()}
    if isinstance(document, list):
        return [nul_in_long_text(value) for value in document]
    if isinstance(document, str) and len(document) > 12:
        return document[: len(document) // 2] + "\x00" + document[len(document) // 2:]
    return document


def signed_requests(world: FuzzWorld, change: Callable[[Any], Any]) -> list[FuzzRequest]:
    """One validly signed request per provider, its payload (a real one) changed by `change`."""
    hooks = world.webhooks
    requests = []

    def post(label: str, body: bytes, headers: dict[str, str], path: str | None = None) -> None:
        requests.append(FuzzRequest("ingest", label, "POST", path or hooks[label].path, body, tuple(headers.items()),
                                    tags=("signed",)))

    body = json.dumps(change(fixture("alertmanager/firing-two-alerts-oncall-example.json"))).encode()
    post("alertmanager-bearer", body, {**JSON, "Authorization": f"Bearer {hooks['alertmanager-bearer'].secret}"})
    body = json.dumps(change(fixture("grafana/firing-two-alerts-grafana-docs.json"))).encode()
    timestamp = str(int(time.time()))
    signature = hmac_hex(hooks["grafana-hmac"].secret, f"{timestamp}:".encode() + body)
    post("grafana-hmac", body, {**JSON, GRAFANA_TIMESTAMP: timestamp, GRAFANA_SIGNATURE: signature})
    body = json.dumps(change(fixture("datadog/custom-payload-metric-monitor-triggered-rendered.json"))).encode()
    post("datadog-mapped", body, {**JSON, DATADOG_TOKEN: hooks["datadog-mapped"].secret})
    body = json.dumps(change(fixture("sentry/event-alert-triggered-docs.json"))).encode()
    post("sentry", body, sentry_headers(body, hooks["sentry"].secret))
    event = change(fixture("pagerduty-events-v2/trigger-full-api-schema.json"))
    event["routing_key"] = hooks["pagerduty"].secret
    post("pagerduty", json.dumps(event).encode(), JSON, path="/v2/enqueue")
    message = change(fixture("cloudwatch/sns-notification-alarm-alerta-test.json"))
    alarm = change(json.loads(fixture("cloudwatch/sns-notification-alarm-alerta-test.json")["Message"]))
    message.update(MessageId=str(uuid.uuid4()), TopicArn=SNS_TOPIC, SigningCertURL=world.sns_cert_url,
                   Message=json.dumps(alarm))
    signed = world.sns_signer.sign({k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")})
    post("cloudwatch", json.dumps(signed).encode(), {"Content-Type": "text/plain; charset=UTF-8",
                                                     "x-amz-sns-message-type": "Notification"})
    return requests


def accepted_and_harmless(world: FuzzWorld, requests: list[FuzzRequest]) -> FuzzReport:
    """Send `requests`; every one must be accepted, stored once, reach the read model, be readable
    through the API, and be dead-lettered nowhere."""
    since = database_now(world)
    report = FuzzReport(seed=0, outcomes=asyncio.run(send_all(world, iter(requests))))
    refused = [(o.request.endpoint, o.status, o.body[:200]) for o in report.outcomes if o.status != 202]
    assert not refused, refused
    assert not (stored := storage_problems(world, report, since)), stored
    assert not (downstream := pipeline_problems(world, report, since)), downstream
    return report


def test_a_nul_in_any_text_field_of_any_provider_is_accepted_and_poisons_nothing(world: FuzzWorld) -> None:
    """Seen before NormalizedAlert cleaned text: accepted with a 202, then refused by PostgreSQL in
    grouping and query-api (dead-lettered, never notified); and GET /api/alerts?project=a%00b was a 500."""
    report = accepted_and_harmless(world, signed_requests(world, nul_in_long_text))
    assert report.expected_alerts() >= 6
    alertmanager = next(o.json() for o in report.outcomes if o.request.endpoint == "alertmanager-bearer")
    titles = world.sql("SELECT title FROM query.alerts WHERE delivery_id = %s", alertmanager["delivery_id"])
    assert sorted(row[0] for row in titles) == ["Instance localhost:8081 down", "Instance localhost:8082 down"]


def test_a_time_of_year_10000_in_utc_is_stored_clamped_and_every_page_reads(world: FuzzWorld) -> None:
    """`9999-12-31T23:59:59-23:59` is year 10000 in UTC: PostgreSQL stores it, Python cannot read it
    back, and GET /api/alerts answered 500 while such a row was on the page."""
    marker = uuid.uuid4().hex

    def far_future(document: Any) -> Any:
        for alert in document.get("alerts", []):
            alert["startsAt"] = "9999-12-31T23:59:59-23:59"
            alert.setdefault("labels", {})["fuzz_marker"] = marker  # new groups, and rows to find
            alert.pop("fingerprint", None)
        return document

    requests = [r for r in signed_requests(world, far_future) if r.endpoint == "alertmanager-bearer"]
    accepted_and_harmless(world, requests)
    rows = world.sql("SELECT occurred_at FROM query.alerts WHERE workspace_id = %s AND tags->>'fuzz_marker' = %s",
                     world.workspace_id, marker)
    assert [row[0].isoformat() for row in rows] == ["9999-12-31T23:59:59+00:00"] * 2
    response = httpx.get(f"{world.url('query-api')}/api/alerts", timeout=30, headers=bearer(world), params={
        "workspace_id": world.workspace_id, "before": "9999-12-31T23:59:59-23:59", "limit": 500})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("service", "path"), [
    ("query-api", "/api/alerts?workspace_id=w&project=a%00b"),
    ("query-api", "/api/alert-groups?workspace_id=%00"),
    ("query-api", "/api/routing-rules/%00"),
    ("ingest", "/webhooks/sentry/sen-1?token=%00"),
    ("ingest", "/webhooks/sentry/%00"),
])
def test_a_nul_in_a_url_is_422_with_a_reason(world: FuzzWorld, service: str, path: str) -> None:
    url = httpx.URL(world.url(service)).copy_with(raw_path=path.encode())
    response = httpx.request("GET" if service == "query-api" else "POST", url, headers=bearer(world), timeout=30)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"]


def raw_post(world: FuzzWorld, path: str, head: bytes, first_chunk: bytes) -> bytes:
    """POST `path` with `head` (extra header lines), send `first_chunk` of the body and no more, and
    return what the server answers meanwhile (b"" if it waits for the rest)."""
    port = int(world.url("ingest").rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
                           + head + b"\r\n" + first_chunk)
        connection.settimeout(3)
        try:
            return connection.recv(4096)
        except TimeoutError:
            return b""


def test_an_unknown_integration_is_404_before_its_body_is_read(world: FuzzWorld) -> None:
    """Before: the body was read first (up to the size limit) whatever the URL named."""
    answer = raw_post(world, "/webhooks/sentry/sen-000000000000", b"Content-Length: 5000000\r\n", b'{"a": ')
    assert answer.startswith(b"HTTP/1.1 404"), answer
    chunked = b"Transfer-Encoding: chunked\r\n"
    answer = raw_post(world, "/webhooks/sentry/sen-000000000000", chunked, b'6\r\n{"a": \r\n')
    assert answer.startswith(b"HTTP/1.1 404"), answer


def test_a_known_integration_is_413_past_the_size_limit(world: FuzzWorld) -> None:
    path = world.webhooks["sentry"].path
    answer = raw_post(world, path, f"Content-Length: {MAX_BODY_BYTES + 1}\r\n".encode(), b'{"a": ')
    assert answer.startswith(b"HTTP/1.1 413"), answer
    oversize = httpx.post(f"{world.url('ingest')}{path}", content=b" " * (MAX_BODY_BYTES + 1), timeout=30,
                          headers=dict(JSON))
    assert oversize.status_code == 413 and "limit" in oversize.json()["error"]


def test_config_bodies_the_database_cannot_store_are_422_and_store_nothing(world: FuzzWorld) -> None:
    """Before: 500 from PostgreSQL (NUL), from UTF-8 (a lone surrogate), from the event encoder (a
    100-bit rule position), and from the 422 itself when it echoed an unencodable input."""
    since = database_now(world)
    rule = {"workspace_id": world.workspace_id, "name": "guard", "channel": "#fuzz"}
    for path, body in [
        ("/api/workspaces", json.dumps({"name": "a\x00b"})),
        ("/api/workspaces", json.dumps({"name": "\ud800"})),
        ("/api/routing-rules", json.dumps({**rule, "conditions": {"projects": ["p\x00"]}})),
        ("/api/routing-rules", json.dumps({**rule, "position": -(10**30)})),
        ("/api/slack/connect", json.dumps({"workspace_id": world.workspace_id, "bot_token": "xoxb-1",
                                           "signing_secret": "s", "team_id": "\x00"})),
        ("/api/integrations", '{"workspace_id": "w", "provider": "sentry", "name": NaN}'),
    ]:
        response = httpx.post(f"{world.url('query-api')}{path}", content=body.encode(), timeout=30,
                              headers={**bearer(world), **JSON})
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["detail"]
    assert world.sql("SELECT count(*) FROM query.routing_rules WHERE updated_at >= %s", since) == [(0,)]
    assert world.sql("SELECT count(*) FROM query.workspaces WHERE created_at >= %s", since) == [(0,)]


def test_a_signed_sns_message_whose_id_holds_a_nul_is_422_not_a_503_to_retry_for_ever(world: FuzzWorld) -> None:
    message = fixture("cloudwatch/sns-notification-alarm-alerta-test.json")
    message.update(MessageId=f"{uuid.uuid4()}\x00", TopicArn=SNS_TOPIC, SigningCertURL=world.sns_cert_url)
    signed = world.sns_signer.sign({k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")})
    response = httpx.post(f"{world.url('ingest')}{world.webhooks['cloudwatch'].path}", content=json.dumps(signed),
                          headers={"Content-Type": "text/plain; charset=UTF-8"}, timeout=30)
    assert response.status_code == 422, response.text
    assert "delivery id" in response.json()["error"]


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def bearer(world: FuzzWorld) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.admin_token}"}


JSON = {"Content-Type": "application/json"}
