"""Every provider end to end: a real payload (tests/contract/fixtures/<provider>/), sent the way its
sender sends it, authenticated, through every service, into the read model and onto Slack; and every
provider's refusals (401 / 400 / 422, with a reason, nothing stored).

CloudWatch arrives through SNS, whose signing certificate ingest downloads over HTTPS from an
allow-listed host: here a local HTTPS server on 127.0.0.1 with its own CA (tests/e2e/local_https.py),
which a second stack's ingest trusts through SIGNALCRAFT_SNS_CA_BUNDLE.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.stack import Stack

from .conftest import Tenant, make_tenant, start_stack
from sns_signing import SnsSigner

from .local_https import LocalCa, LocalHttpsServer

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "contract" / "fixtures"
WAIT = 60  # generous: two shared cores
GRAFANA_SIGNATURE = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP = "X-Grafana-Alerting-Timestamp"
DATADOG_TOKEN = "X-SignalCraft-Token"
# The mapping tests/contract/support.py uses for this custom Datadog template (CodeNow/fluffy's).
DATADOG_FLUFFY_MAPPING = {"status": "alert_transition", "source_event_id": "event_id", "tags": "event_tags",
                          "link": "link"}


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def add_integration(tenant: Tenant, provider: str, secret: str | None = None, **options: str) -> dict[str, Any]:
    """Create the integration and wait until ingest has it from the config topic (401/422, not 404)."""
    created = tenant.admin.add_integration(tenant.workspace_id, provider, f"{provider} e2e", secret=secret,
                                           options=options)
    wait_until(lambda: httpx.post(created["webhook_url"], content=b"{}", timeout=10).status_code != 404, WAIT,
               what=f"ingest knowing the {provider} integration")
    return created


def wait_groups(tenant: Tenant, count: int, ready: Callable[[list[dict[str, Any]]], bool] = lambda g: True,
                what: str = "groups") -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        groups = tenant.groups()
        return groups if len(groups) == count and ready(groups) else None

    return wait_until(found, WAIT, what=what)


def exactly_messages(tenant: Tenant, count: int, settle: float = 1.0) -> list[dict[str, Any]]:
    """Wait for `count` Slack messages in the tenant's channel, then make sure no more follow."""
    wait_until(lambda: len(tenant.slack_messages()) >= count, WAIT, what=f"{count} Slack message(s)")
    time.sleep(settle)
    messages = tenant.slack_messages()
    assert len(messages) == count, [m["text"] for m in messages]
    return messages


def message_for(messages: list[dict[str, Any]], group: dict[str, Any]) -> dict[str, Any]:
    block_id = f"signalcraft.group.{group['group_id']}"
    found = [m for m in messages if any(b.get("block_id") == block_id for b in m["blocks"])]
    assert len(found) == 1, f"one message for group {group['title']!r}"
    return found[0]


def resolved_update(tenant: Tenant, message: dict[str, Any]) -> dict[str, Any]:
    """The group's Slack message once rewritten as resolved: the same message (ts), not a new one."""
    # Other state changes (an acknowledgement) may rewrite it first: wait for the resolution's rewrite.
    updated = wait_until(lambda: [m for m in tenant.slack_messages() if m["ts"] == message["ts"] and m["updates"] >= 1
                                  and m["text"].startswith("Resolved:")], WAIT, what="the Slack message resolved")[0]
    assert updated["text"].startswith("Resolved:"), updated["text"]
    assert not any(b["type"] == "actions" for b in updated["blocks"])  # no buttons left
    return updated


# --- Prometheus Alertmanager ------------------------------------------------------------------------

def send_alertmanager(url: str, token: str, payload: Any) -> httpx.Response:
    return httpx.post(url, content=json.dumps(payload).encode(), timeout=30, headers={
        "Content-Type": "application/json", "User-Agent": "Alertmanager/0.27.0", "Authorization": f"Bearer {token}"})


def test_alertmanager_two_firing_alerts_become_two_groups_and_two_messages(tenant: Tenant) -> None:
    token = f"am-token-{secrets.token_hex(8)}"
    created = add_integration(tenant, "alertmanager", token, auth="bearer", default_environment="production")
    payload = fixture("alertmanager/firing-two-alerts-oncall-example.json")

    response = send_alertmanager(created["webhook_url"], token, payload)
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == 2

    groups = wait_groups(tenant, 2, what="2 Alertmanager groups")
    assert {g["title"] for g in groups} == {"Instance localhost:8081 down", "Instance localhost:8082 down"}
    assert {(g["source"], g["project"], g["environment"], g["severity"], g["status"], g["count"]) for g in groups} == {
        ("alertmanager", "node", "prod", "critical", "open", 1)}  # project from the job label
    messages = exactly_messages(tenant, 2)
    for group in groups:
        text = message_for(messages, group)["text"]
        assert f"[CRITICAL] prod · node — {group['title']} (×1)" in text


def test_alertmanager_firing_then_resolved_resolves_the_group_and_updates_its_message(tenant: Tenant) -> None:
    token = f"am-token-{secrets.token_hex(8)}"
    created = add_integration(tenant, "alertmanager", token, default_project="hosts", default_environment="staging")
    resolved = fixture("alertmanager/resolved-single-alert-zulip.json")
    firing = copy.deepcopy(resolved)  # the same alert, as Alertmanager sent it while it was firing
    firing["status"] = firing["alerts"][0]["status"] = "firing"

    assert send_alertmanager(created["webhook_url"], token, firing).status_code == 202
    group = wait_groups(tenant, 1, what="the firing group")[0]
    assert (group["title"], group["project"], group["environment"], group["severity"], group["status"], group["count"]) == (
        "High CPU core temperature", "hosts", "staging", "critical", "open", 1)
    message = exactly_messages(tenant, 1, settle=0)[0]
    assert "High CPU core temperature" in message["text"]

    assert send_alertmanager(created["webhook_url"], token, resolved).status_code == 202
    group = wait_groups(tenant, 1, lambda g: g[0]["status"] == "resolved", what="the group resolved")[0]
    assert group["resolved_at"] is not None and group["count"] == 1
    updated = resolved_update(tenant, message)
    assert "High CPU core temperature" in updated["text"]
    assert len(tenant.slack_messages()) == 1


# --- Grafana ------------------------------------------------------------------------------------------

def test_grafana_hmac_signed_with_timestamp_becomes_two_groups_and_two_messages(tenant: Tenant) -> None:
    secret = f"grafana-hmac-{secrets.token_hex(8)}"
    created = add_integration(tenant, "grafana", secret, auth="hmac", timestamp_header=GRAFANA_TIMESTAMP,
                              project_labels="team", default_environment="prd")
    body = json.dumps(fixture("grafana/firing-two-alerts-grafana-docs.json")).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()

    response = httpx.post(created["webhook_url"], content=body, timeout=30, headers={
        "Content-Type": "application/json", GRAFANA_SIGNATURE: signature, GRAFANA_TIMESTAMP: timestamp})
    assert response.status_code == 202, response.text

    groups = wait_groups(tenant, 2, what="2 Grafana groups")
    assert {g["title"] for g in groups} == {"This alert was triggered for zone us-1",
                                            "This alert was triggered for zone eu-1"}
    assert {(g["source"], g["project"], g["environment"], g["severity"], g["status"], g["count"]) for g in groups} == {
        ("grafana", "blue", "prod", "medium", "open", 1)}  # project from the `team` label, "prd" -> prod
    messages = exactly_messages(tenant, 2)
    for group in groups:
        assert f"[MEDIUM] prod · blue — {group['title']} (×1)" in message_for(messages, group)["text"]


def test_grafana_without_a_timestamp_header_answers_a_replay_as_a_duplicate_and_stores_nothing(tenant: Tenant) -> None:
    """Signed over the body only, nothing in the request is fresh: the signed body names a replay."""
    secret = f"grafana-hmac-{secrets.token_hex(8)}"
    created = add_integration(tenant, "grafana", secret, auth="hmac", default_environment="prd")
    body = json.dumps(fixture("grafana/firing-two-alerts-grafana-docs.json")).encode()
    headers = {"Content-Type": "application/json",
               GRAFANA_SIGNATURE: hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    first = httpx.post(created["webhook_url"], content=body, timeout=30, headers=headers)
    replayed = httpx.post(created["webhook_url"], content=body, timeout=30, headers=headers)
    assert first.status_code == 202, first.text
    assert replayed.status_code == 200 and replayed.json()["status"] == "duplicate", replayed.text
    groups = wait_groups(tenant, 2, what="2 Grafana groups")
    time.sleep(1.0)
    assert sorted(g["count"] for g in tenant.groups()) == [1, 1] and len(groups) == 2
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s",
                      created["integration_id"]) == [(1,)]


# --- Datadog ------------------------------------------------------------------------------------------

def add_datadog(tenant: Tenant) -> tuple[str, str]:
    token = f"dd-token-{secrets.token_hex(8)}"
    created = add_integration(tenant, "datadog", token, header=DATADOG_TOKEN, mapping=json.dumps(DATADOG_FLUFFY_MAPPING),
                              default_project="platform", default_environment="production")
    return created["webhook_url"], token


def send_datadog(url: str, token: str, payload: dict[str, Any]) -> None:
    response = httpx.post(url, content=json.dumps(payload).encode(), timeout=30,
                          headers={"Content-Type": "application/json", DATADOG_TOKEN: token})
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == 1


def renotified(payload: dict[str, Any], minutes: int = 1) -> dict[str, Any]:
    """The same monitor notifying again later: a new Datadog event of the same alert."""
    event_id = str(int(payload["event_id"]) + minutes)
    return {**payload, "event_id": event_id, "date": str(int(payload["date"]) + minutes * 60_000),
            "link": f"https://app.datadoghq.com/event/event?id={event_id}"}


DATADOG_TITLE = "[Triggered on {host:i-3b93aafb}] Dock is almost out of memory..."


def test_datadog_custom_payload_triggered_then_recovered(tenant: Tenant) -> None:
    url, token = add_datadog(tenant)
    send_datadog(url, token, fixture("datadog/custom-payload-metric-monitor-triggered-rendered.json"))

    group = wait_groups(tenant, 1, what="the Datadog group")[0]
    assert (group["source"], group["title"], group["project"], group["environment"], group["severity"], group["status"],
            group["count"]) == ("datadog", DATADOG_TITLE, "platform", "prod", "high", "open", 1)
    assert group["link"] == "https://app.datadoghq.com/event/event?id=3089904566766935419"  # mapped from `link`
    message = exactly_messages(tenant, 1, settle=0)[0]
    assert message["text"].startswith(f"<!here> [HIGH] prod · platform — {DATADOG_TITLE}")

    # "[Recovered on {host:i-3b93aafb}] ...": same monitor and scope, so the same group, now resolved.
    send_datadog(url, token, fixture("datadog/custom-payload-metric-monitor-recovered-rendered.json"))
    group = wait_groups(tenant, 1, lambda g: g[0]["status"] == "resolved", what="the Datadog group resolved")[0]
    assert group["resolved_at"] is not None
    resolved_update(tenant, message)
    assert len(tenant.slack_messages()) == 1


def test_a_held_back_count_update_reaches_the_read_model(tenant: Tenant) -> None:
    url, token = add_datadog(tenant)
    triggered = fixture("datadog/custom-payload-metric-monitor-triggered-rendered.json")
    # Another host of the same multi-alert monitor: its group is settled (published, nothing pending)
    # once the debounce interval (5 s) has passed, which is what the flush loop trips over.
    other_host = {**triggered, "title": triggered["title"].replace("i-3b93aafb", "i-0a1b2c3d"),
                  "event_id": str(int(triggered["event_id"]) - 1)}
    send_datadog(url, token, other_host)
    wait_groups(tenant, 1, what="the other host's group")
    time.sleep(7.0)

    send_datadog(url, token, triggered)
    wait_groups(tenant, 2, what="the second group")
    # Within the debounce interval of the group's first publication: the count update is held back,
    # and must be published by the flush loop a few seconds later.
    send_datadog(url, token, renotified(triggered))
    group = wait_until(lambda: [g for g in tenant.groups() if g["title"] == DATADOG_TITLE and g["count"] == 2], 20,
                       what="the held-back count (2) published")[0]
    assert group["link"] == "https://app.datadoghq.com/event/event?id=3089904566766935420"  # the newest alert's
    exactly_messages(tenant, 2, settle=0)  # a count update is no new message


# --- PagerDuty Events API v2 ----------------------------------------------------------------------------

def pagerduty_event(action: str, routing_key: str, dedup_key: str) -> bytes:
    if action == "trigger":
        event = fixture("pagerduty-events-v2/trigger-full-api-schema.json")
    else:
        event = fixture("pagerduty-events-v2/resolve-python-example.json")  # {"routing_key","event_action","dedup_key"}
        event["event_action"] = action
    event["routing_key"], event["dedup_key"] = routing_key, dedup_key
    return json.dumps(event).encode()


def test_pagerduty_trigger_acknowledge_resolve_through_v2_enqueue(tenant: Tenant) -> None:
    routing_key = secrets.token_hex(16)  # 32 hex, like PagerDuty's integration keys
    created = add_integration(tenant, "pagerduty", routing_key, default_project="datapipe",
                              default_environment="production")
    enqueue, dedup_key = created["events_v2_url"], f"srv01/mysql-{secrets.token_hex(4)}"
    assert enqueue == f"{tenant.stack.url('ingest')}/v2/enqueue"
    title = "DISK at 99% on machine prod-datapipe03.example.com"

    def send(action: str) -> None:
        response = httpx.post(enqueue, content=pagerduty_event(action, routing_key, dedup_key), timeout=30,
                              headers={"Content-Type": "application/json"})
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": dedup_key}

    send("trigger")
    group = wait_groups(tenant, 1, what="the triggered group")[0]
    assert (group["source"], group["title"], group["project"], group["environment"], group["severity"], group["status"],
            group["count"]) == ("pagerduty", title, "mysql", "prod", "critical", "open", 1)  # payload.component (9.6)
    message = exactly_messages(tenant, 1, settle=0)[0]
    assert title in message["text"]

    send("acknowledge")
    group = wait_groups(tenant, 1, lambda g: g[0]["status"] == "acknowledged", what="the group acknowledged")[0]
    assert group["acknowledged_at"] is not None and group["resolved_at"] is None

    send("resolve")
    group = wait_groups(tenant, 1, lambda g: g[0]["status"] == "resolved", what="the group resolved")[0]
    assert group["resolved_at"] is not None
    resolved_update(tenant, message)
    assert len(tenant.slack_messages()) == 1
    kinds = [e["kind"] for e in tenant.admin.get(f"/api/alert-groups/{group['group_id']}")["timeline"]]
    assert kinds[:2] == ["received", "opened"] and kinds.index("acknowledged") < kinds.index("resolved")


def test_pagerduty_unknown_routing_key_is_401_in_pagerdutys_error_shape(tenant: Tenant) -> None:
    routing_key = secrets.token_hex(16)
    created = add_integration(tenant, "pagerduty", routing_key)
    wrong = secrets.token_hex(16)
    response = httpx.post(created["events_v2_url"], content=pagerduty_event("trigger", wrong, "srv01/mysql"),
                          timeout=30, headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["status"] == "Invalid routing key" and body["message"]
    assert isinstance(body["errors"], list) and body["errors"] and all(body["errors"])
    assert wrong not in response.text  # the presented key is not echoed back
    time.sleep(0.5)
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE workspace_id = %s", tenant.workspace_id) == [(0,)]
    assert tenant.sql("SELECT count(*) FROM query.alerts WHERE workspace_id = %s", tenant.workspace_id) == [(0,)]


def test_pagerduty_routing_key_is_not_kept_in_the_stored_delivery(tenant: Tenant) -> None:
    """The routing key is the credential: the raw copy ingest keeps has it redacted, on both URLs."""
    routing_key = secrets.token_hex(16)
    created = add_integration(tenant, "pagerduty", routing_key)
    for url, dedup_key in ((created["events_v2_url"], "srv01/a"), (created["webhook_url"], "srv01/b")):
        response = httpx.post(url, content=pagerduty_event("trigger", routing_key, dedup_key), timeout=30,
                              headers={"Content-Type": "application/json", "User-Agent": "pd-sender"})
        assert response.status_code == 202, response.text
    stored = tenant.sql("SELECT body, headers::text FROM ingest.deliveries WHERE integration_id = %s",
                        created["integration_id"])
    assert len(stored) == 2
    for body, headers in stored:
        assert routing_key.encode() not in bytes(body) and routing_key not in headers
        event = json.loads(bytes(body))
        assert event["routing_key"] == "[redacted]" and event["event_action"] == "trigger"


# --- Refusals, every provider -------------------------------------------------------------------------

@dataclass
class Target:
    provider: str
    url: str
    secret: str
    integration_id: str


@dataclass
class RefusalWorkspace:
    tenant: Tenant
    targets: dict[str, Target]


@pytest.fixture(scope="module")
def refusals(stack: Stack) -> Iterator[RefusalWorkspace]:
    """One workspace with one integration per provider; refusals never store, so they can share it."""
    tenant = make_tenant(stack)
    targets = {"sentry": Target("sentry", tenant.webhook_url, tenant.secret, tenant.integration_id)}
    options: dict[str, dict[str, str]] = {
        "alertmanager": {"auth": "bearer"},
        "grafana": {"auth": "hmac", "timestamp_header": GRAFANA_TIMESTAMP},
        "datadog": {"header": DATADOG_TOKEN},
        "cloudwatch": {"topic_arns": "arn:aws:sns:eu-west-1:1234567890:alerta-test"},
        "pagerduty": {},
    }
    for provider, provider_options in options.items():
        secret = f"{provider}-secret-{secrets.token_hex(8)}"
        created = add_integration(tenant, provider, secret, **provider_options)
        targets[provider] = Target(provider, created["webhook_url"], secret, created["integration_id"])
    yield RefusalWorkspace(tenant, targets)
    tenant.admin.close()


Request = tuple[bytes, dict[str, str]]
JSON = {"Content-Type": "application/json"}


def _sentry(body: bytes, secret: str) -> Request:
    return body, sentry_headers(body, secret)


def _bearer(body: bytes, secret: str) -> Request:
    return body, {**JSON, "Authorization": f"Bearer {secret}"}


def _grafana(body: bytes, secret: str) -> Request:
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return body, {**JSON, GRAFANA_SIGNATURE: signature, GRAFANA_TIMESTAMP: timestamp}


def _datadog(body: bytes, secret: str) -> Request:
    return body, {**JSON, DATADOG_TOKEN: secret}


def _sns(body: bytes, secret: str) -> Request:  # SNS authenticates the body itself; the secret is unused
    return body, {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


def _plain(body: bytes, secret: str) -> Request:  # PagerDuty: the routing_key in the body is the credential
    return body, dict(JSON)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _pagerduty(secret: str, **changes: Any) -> bytes:
    event = fixture("pagerduty-events-v2/trigger-full-api-schema.json")
    event["routing_key"] = secret
    for key, value in changes.items():
        if value is None:
            event["payload"].pop(key)
        else:
            event[key] = value
    return _dumps(event)


def _sns_notification(signing_cert_url: str | None = None) -> bytes:
    message = fixture("cloudwatch/sns-notification-alarm-alerta-test.json")
    if signing_cert_url:
        message["SigningCertURL"] = signing_cert_url
    return _dumps(message)


SENTRY_EVENT = (FIXTURES / "sentry" / "event-alert-triggered-docs.json").read_bytes()
AM_FIRING = (FIXTURES / "alertmanager" / "firing-two-alerts-oncall-example.json").read_bytes()
GRAFANA_FIRING = (FIXTURES / "grafana" / "firing-two-alerts-grafana-docs.json").read_bytes()
DATADOG_TEMPLATE = (FIXTURES / "datadog" / "default-payload-template.json").read_bytes()


# provider -> kind -> (the request, built from the integration secret; expected status; part of the reason)
REFUSALS: dict[str, dict[str, tuple[Callable[[str], Request], int, str]]] = {
    "sentry": {
        "bad-auth": (lambda s: _sentry(SENTRY_EVENT, "not-the-client-secret"), 401, "does not match"),
        "malformed": (lambda s: _sentry(SENTRY_EVENT[:-7], s), 400, "not valid JSON"),
        "unsupported-shape": (lambda s: _sentry(AM_FIRING, s), 422, "missing 'data'"),  # an Alertmanager body
    },
    "alertmanager": {
        "bad-auth": (lambda s: _bearer(AM_FIRING, "not-the-token"), 401, "do not match"),
        "malformed": (lambda s: _bearer(AM_FIRING[:-7], s), 400, "not valid JSON"),
        "unsupported-shape": (lambda s: _bearer(_dumps({**json.loads(AM_FIRING), "version": "3"}), s), 422,
                              "unsupported Alertmanager webhook version"),
    },
    "grafana": {
        "bad-auth": (lambda s: _grafana(GRAFANA_FIRING, "not-the-hmac-secret"), 401, "does not match"),
        "malformed": (lambda s: _grafana(GRAFANA_FIRING[:-7], s), 400, "not valid JSON"),
        "unsupported-shape": (lambda s: _grafana(SENTRY_EVENT, s), 422, "'alerts' must be a list"),  # a Sentry body
    },
    "datadog": {
        "bad-auth": (lambda s: _datadog(DATADOG_TEMPLATE, "not-the-token"), 401, "does not match"),
        "malformed": (lambda s: _datadog(b'{"title": "[Triggered] x", "body": ', s), 400, "not valid JSON"),
        # Datadog's default template as saved, before Datadog renders it: "$EVENT_TITLE" is no title.
        "unsupported-shape": (lambda s: _datadog(DATADOG_TEMPLATE, s), 422, "unrendered template variable"),
    },
    "cloudwatch": {
        # A real SNS notification pointing at a certificate on a host that is not SNS: refused before any fetch.
        "bad-auth": (lambda s: _sns(_sns_notification("https://sns.evil.example.com/SimpleNotificationService-1.pem"), s),
                     401, "is not an allowed SNS host"),
        "malformed": (lambda s: _sns(_sns_notification()[:-7], s), 400, "not valid JSON"),
        "unsupported-shape": (lambda s: _sns(_dumps([json.loads(_sns_notification())]), s), 422, "must be a JSON object"),
    },
    "pagerduty": {
        "bad-auth": (lambda s: _plain(_pagerduty("0" * 32), s), 401, "routing_key does not match"),
        "malformed": (lambda s: _plain(_pagerduty(s)[:-7], s), 400, "not valid JSON"),
        "unsupported-shape": (lambda s: _plain(_pagerduty(s, summary=None), s), 422, "payload.summary is required"),
    },
}


def _reason(provider: str, body: dict[str, Any]) -> str:
    if provider == "pagerduty":  # PagerDuty's error shape
        assert body["status"] and body["message"]
        return str(body["errors"][0])
    return str(body["error"])


@pytest.mark.parametrize(("provider", "kind"), [(p, k) for p, kinds in REFUSALS.items() for k in kinds],
                         ids=[f"{p}-{k}" for p, kinds in REFUSALS.items() for k in kinds])
def test_refused_with_a_reason_and_nothing_stored(refusals: RefusalWorkspace, provider: str, kind: str) -> None:
    target = refusals.targets[provider]
    make_request, status, reason = REFUSALS[provider][kind]
    body, headers = make_request(target.secret)
    response = httpx.post(target.url, content=body, headers=headers, timeout=30)
    assert response.status_code == status, response.text
    given = _reason(provider, response.json())
    assert given.strip() and reason in given, given
    tenant = refusals.tenant
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s", target.integration_id) == [(0,)]
    time.sleep(0.3)  # a wrongly accepted alert would reach the read model about now
    assert tenant.sql("SELECT count(*) FROM query.alerts WHERE workspace_id = %s", tenant.workspace_id) == [(0,)]


# --- CloudWatch through SNS, with the certificate fetched over real HTTPS ----------------------------

TOPIC = "arn:aws:sns:eu-west-1:1234567890:alerta-test"


@dataclass
class SnsWorld:
    stack: Stack
    server: LocalHttpsServer
    signer: SnsSigner
    pem_path: str

    @property
    def cert_url(self) -> str:
        return f"{self.server.base_url}{self.pem_path}"


@pytest.fixture(scope="module")
def sns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnsWorld]:
    """A local HTTPS "SNS" on 127.0.0.1 and a second stack whose ingest trusts its CA and allows its host."""
    ca = LocalCa(tmp_path_factory.mktemp("sns-tls"))
    signer = SnsSigner()
    pem_path = f"/SimpleNotificationService-{secrets.token_hex(16)}.pem"
    server = LocalHttpsServer(ca, pem_path, signer.pem).start()
    try:
        second = start_stack("memory", extra_env={
            "SIGNALCRAFT_SNS_CA_BUNDLE": str(ca.ca_file),
            "SIGNALCRAFT_SNS_CERT_HOST_PATTERN": r"^127\.0\.0\.1$",
        })
    except Exception:
        server.stop()
        raise
    yield SnsWorld(second, server, signer, pem_path)
    second.stop()
    server.stop()


@pytest.fixture
def sns_tenant(sns: SnsWorld) -> Iterator[tuple[Tenant, dict[str, Any]]]:
    tenant = make_tenant(sns.stack)
    created = add_integration(tenant, "cloudwatch", None, topic_arns=TOPIC, cert_host_pattern=r"^127\.0\.0\.1$",
                              default_environment="production")
    yield tenant, created
    tenant.admin.close()


def sns_headers(message: dict[str, Any]) -> dict[str, str]:
    return {  # as in tests/contract/fixtures/cloudwatch/sns-notification-aws-docs.headers.txt
        "Content-Type": "text/plain; charset=UTF-8", "User-Agent": "Amazon Simple Notification Service Agent",
        "x-amz-sns-message-type": message["Type"], "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
    }


def test_sns_subscription_confirmation_is_confirmed_by_a_get_over_https(
        sns: SnsWorld, sns_tenant: tuple[Tenant, dict[str, Any]]) -> None:
    tenant, created = sns_tenant
    message = fixture("cloudwatch/sns-subscription-confirmation-alerta-test.json")
    token = message["Token"]
    message["MessageId"] = str(uuid.uuid4())
    message["SubscribeURL"] = f"{sns.server.base_url}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}"
    message["SigningCertURL"] = sns.cert_url
    signed = sns.signer.sign({k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")})

    response = httpx.post(created["webhook_url"], content=json.dumps(signed).encode(), headers=sns_headers(signed),
                          timeout=30)
    assert 200 <= response.status_code < 300, response.text
    assert response.json()["alerts"] == 0
    confirmations = wait_until(lambda: sns.server.hits_on("/"), WAIT, what="the SubscribeURL GET")
    assert [(h.query["Action"], h.query["TopicArn"], h.query["Token"]) for h in confirmations] == [
        (["ConfirmSubscription"], [TOPIC], [token])]
    assert sns.server.hits_on(sns.pem_path)  # the signature was checked with the certificate fetched over HTTPS
    assert tenant.sql("SELECT count(*) FROM ingest.deliveries WHERE integration_id = %s",
                      created["integration_id"]) == [(1,)]
    time.sleep(0.5)
    assert tenant.groups() == [] and tenant.slack_messages() == []


def test_cloudwatch_alarm_via_sns_becomes_a_group_and_a_message(
        sns: SnsWorld, sns_tenant: tuple[Tenant, dict[str, Any]]) -> None:
    tenant, created = sns_tenant
    message = fixture("cloudwatch/sns-notification-alarm-alerta-test.json")
    message["MessageId"] = str(uuid.uuid4())
    message["SigningCertURL"] = sns.cert_url
    message["UnsubscribeURL"] = f"{sns.server.base_url}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:e2e"
    signed = sns.signer.sign({k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")},
                             version="2")
    title = 'ALARM: "bucketbytesAlarm" in EU (Ireland)'

    response = httpx.post(created["webhook_url"], content=json.dumps(signed).encode(), headers=sns_headers(signed),
                          timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == 1
    assert sns.server.hits_on(sns.pem_path)  # fetched from the allow-listed host over HTTPS, trusted via the CA bundle

    group = wait_groups(tenant, 1, what="the CloudWatch group")[0]
    assert (group["source"], group["title"], group["project"], group["environment"], group["severity"], group["status"],
            group["count"]) == ("cloudwatch", title, "AWS/S3", "prod", "high", "open", 1)
    message_out = exactly_messages(tenant, 1)[0]
    assert title in message_out["text"] and message_out["text"].startswith("<!here> [HIGH] prod · AWS/S3")

    # The same message again (SNS retries with the same MessageId): acknowledged, not counted twice.
    again = httpx.post(created["webhook_url"], content=json.dumps(signed).encode(), headers=sns_headers(signed),
                       timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    time.sleep(1.0)
    assert [g["count"] for g in tenant.groups()] == [1]
