"""What the contract suite shares: a fixed clock and integration per provider, a fake ProviderContext,
an SNS signer with a local key, and the list of cases (fixture -> request -> golden).

Each case sends a fixture the way its sender would (signed, with the right headers) and records
both steps: did `authenticate` accept it, and what did `parse` make of it. The result is compared
with tests/contract/golden/<provider>/<case>.json.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


from signalcraft_ingest.domain.errors import WebhookRejected
from signalcraft_ingest.domain.providers import PROVIDERS
from signalcraft_ingest.domain.providers.base import Integration, ParsedWebhook, WebhookRequest
from functools import partial

from sns_signing import FakeContext as SharedFakeContext
from sns_signing import SnsSigner

CONTRACT_DIR = Path(__file__).parent
FIXTURES = CONTRACT_DIR / "fixtures"
CONSTRUCTED = CONTRACT_DIR / "constructed"
GOLDEN = CONTRACT_DIR / "golden"
UPDATE_GOLDENS = "SIGNALCRAFT_UPDATE_GOLDENS"

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
GRAFANA_TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
ALERTA_TOPIC = "arn:aws:sns:eu-west-1:1234567890:alerta-test"
DOCS_TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
ALARMS_TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudwatch-alarms"
PAGERDUTY_ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"  # the routing key in the API schema example

INTEGRATIONS: dict[str, Integration] = {
    "sentry": Integration("int-sentry", "ws-1", "sentry", "sentry-client-secret",
                          {"default_environment": "production"}, "Sentry"),
    "alertmanager": Integration("int-am", "ws-1", "alertmanager", "am-bearer-token",
                                {"auth": "bearer", "default_project": "infra", "default_environment": "prod"},
                                "Alertmanager"),
    "grafana": Integration("int-grafana", "ws-1", "grafana", "grafana-hmac-secret",
                           {"auth": "hmac", "timestamp_header": GRAFANA_TIMESTAMP_HEADER,
                            "default_project": "observability", "default_environment": "prod"}, "Grafana"),
    "datadog": Integration("int-dd", "ws-1", "datadog", "dd-header-token",
                           {"auth": "header", "default_project": "platform", "default_environment": "prod"},
                           "Datadog"),
    "cloudwatch": Integration("int-cw", "ws-1", "cloudwatch", "unused",
                              {"topic_arns": f"{ALERTA_TOPIC},{DOCS_TOPIC},{ALARMS_TOPIC}",
                               "default_environment": "prod"}, "CloudWatch"),
    "pagerduty": Integration("int-pd", "ws-1", "pagerduty", PAGERDUTY_ROUTING_KEY,
                             {"default_project": "datapipe", "default_environment": "prod"}, "PagerDuty"),
}

# Custom Datadog templates need the integration to say where each field is.
DATADOG_MAPPINGS = {
    # CodeNow/fluffy's template: $ALERT_TRANSITION, $EVENT_MSG, $DATE, $ID, $TAGS, $LINK, $EVENT_TITLE.
    "custom-payload-metric-monitor-triggered-rendered": {
        "status": "alert_transition", "source_event_id": "event_id", "tags": "event_tags", "link": "link",
    },
    "custom-payload-metric-monitor-recovered-rendered": {
        "status": "alert_transition", "source_event_id": "event_id", "tags": "event_tags", "link": "link",
    },
    # webhookToSnmp's template: $ALERT_ID, $ALERT_TRANSITION, $ALERT_TYPE, $ALERT_SCOPE, $TAGS, $LINK.
    "custom-payload-test-notification-raw-capture": {
        "status": "alerttransition", "severity": "alerttype", "fingerprint": ["alertid", "scope"],
        "source_event_id": "id", "tags": "tags", "link": "link",
    },
}


def integration_for(provider: str, stem: str) -> Integration:
    integration = INTEGRATIONS[provider]
    if provider == "datadog" and stem in DATADOG_MAPPINGS:
        options = {**integration.options, "mapping": json.dumps(DATADOG_MAPPINGS[stem])}
        return Integration(integration.integration_id, integration.workspace_id, provider, integration.secret,
                           options, integration.name)
    return integration


SNS_SIGNER = SnsSigner()


# Serves this signer's certificate unless given another `pem`.
FakeContext = partial(SharedFakeContext, pem=SNS_SIGNER.pem)


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never really suspends (authenticate with a FakeContext), synchronously."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("coroutine suspended: it awaited real I/O")


def request(body: bytes, headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None,
            received_at: datetime = RECEIVED_AT) -> WebhookRequest:
    return WebhookRequest(body=body, headers={k.lower(): v for k, v in (headers or {}).items()},
                          query=dict(query or {}), received_at=received_at)


def headers_file(path: Path) -> dict[str, str]:
    """Headers from a saved HTTP request head (first line is the request line)."""
    lines = path.read_text().splitlines()[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines) if name}


# --- how each sender delivers a body ------------------------------------------------------------------

def sentry_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    if stem.startswith("legacy-"):
        return request(body, {"content-type": "application/json"}, {"token": integration.secret})
    signature = hmac.new(integration.secret.encode(), body, hashlib.sha256).hexdigest()
    return request(body, {"content-type": "application/json", "sentry-hook-signature": signature})


def alertmanager_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    return request(body, {"authorization": f"Bearer {integration.secret}", "user-agent": "Alertmanager/0.27.0"})


def grafana_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    timestamp = str(int(RECEIVED_AT.timestamp()) - 2)
    signature = hmac.new(integration.secret.encode(), f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return request(body, {"x-grafana-alerting-signature": signature, GRAFANA_TIMESTAMP_HEADER: timestamp})


def datadog_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    return request(body, {"content-type": "application/json", "x-signalcraft-token": integration.secret})


def cloudwatch_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    headers_path = FIXTURES / "cloudwatch" / f"{stem}.headers.txt"
    headers = headers_file(headers_path) if headers_path.exists() else {"content-type": "text/plain; charset=UTF-8"}
    return request(body, headers)


def pagerduty_delivery(body: bytes, integration: Integration, stem: str) -> WebhookRequest:
    return request(body, {"content-type": "application/json"})


DELIVERIES: dict[str, Callable[[bytes, Integration, str], WebhookRequest]] = {
    "sentry": sentry_delivery, "alertmanager": alertmanager_delivery, "grafana": grafana_delivery,
    "datadog": datadog_delivery, "cloudwatch": cloudwatch_delivery, "pagerduty": pagerduty_delivery,
}


# --- the cases ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    provider: str
    name: str  # golden file stem
    source: Path  # the fixture (or constructed payload) it starts from
    body: bytes
    why: str = ""  # for cases that transform the fixture: what was done and why

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.name}"

    @property
    def golden_path(self) -> Path:
        return GOLDEN / self.provider / f"{self.name}.json"


FIXTURE_DIRS = {"sentry": "sentry", "alertmanager": "alertmanager", "grafana": "grafana", "datadog": "datadog",
                "cloudwatch": "cloudwatch", "pagerduty": "pagerduty-events-v2"}
# Files in fixture folders that are not request bodies.
NOT_REQUESTS = {"response-202-success-api-schema.json", "response-error-api-schema.json"}
# Real SNS captures: their AWS signatures cannot be checked offline, so they are re-signed locally.
RESIGNED_SNS = {"sns-notification-alarm-alerta-test", "sns-subscription-confirmation-alerta-test"}


def _sentry_metric_alert_envelope(data: bytes) -> bytes:
    envelope = {
        "action": "critical",
        "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        "data": json.loads(data),
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }
    return json.dumps(envelope, indent=2).encode()


def _sns_envelope(alarm_message: bytes, topic: str, message_id: str, subject: str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Subject": subject,
        "Message": alarm_message.decode(),
        "Timestamp": "2015-06-03T17:43:27.200Z",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem",
        "UnsubscribeURL": f"https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:sub-1",
    }


def _transformed_cases() -> list[Case]:
    sentry_data = FIXTURES / "sentry" / "metric-alert-critical-data-only-sentry-unit-test.json"
    single = FIXTURES / "cloudwatch" / "alarm-message-single-metric-aws-lambda-go.json"
    math = FIXTURES / "cloudwatch" / "alarm-message-metric-math-aws-lambda-go.json"
    return [
        Case("sentry", "metric-alert-critical-data-only-sentry-unit-test.wrapped", sentry_data,
             _sentry_metric_alert_envelope(sentry_data.read_bytes()),
             "data-only fixture wrapped in the integration-platform envelope with action 'critical'"),
        Case("cloudwatch", "alarm-message-single-metric-aws-lambda-go.wrapped", single,
             json.dumps(SNS_SIGNER.sign(_sns_envelope(
                 single.read_bytes(), ALARMS_TOPIC, "b3c1f0a2-5d8e-4a8f-9d0e-6f2a1c3b4d5e",
                 'ALARM: "EXAMPLE" in US East (N. Virginia)'), version="1"), indent=2).encode(),
             "alarm Message wrapped in an SNS Notification envelope, SignatureVersion 1, signed locally"),
        Case("cloudwatch", "alarm-message-metric-math-aws-lambda-go.wrapped", math,
             json.dumps(SNS_SIGNER.sign(_sns_envelope(
                 math.read_bytes(), ALARMS_TOPIC, "0f9e8d7c-6b5a-4321-9fed-cba987654321",
                 'ALARM: "EXAMPLE" in US East (N. Virginia)'), version="2"), indent=2).encode(),
             "metric-math alarm Message wrapped in an SNS Notification envelope, SignatureVersion 2, signed locally"),
    ]


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for provider, folder in FIXTURE_DIRS.items():
        for path in sorted((FIXTURES / folder).glob("*.json")):
            if path.name in NOT_REQUESTS:
                continue
            body = path.read_bytes()
            why = ""
            if provider == "cloudwatch" and path.stem in RESIGNED_SNS:
                body = json.dumps(SNS_SIGNER.sign(json.loads(body), version="1"), indent=2).encode()
                why = "real SNS capture re-signed with the local test key (AWS's certificate is not available offline)"
            cases.append(Case(provider, path.stem, path, body, why))
        constructed = CONSTRUCTED / folder
        for path in sorted(constructed.glob("*.json")) if constructed.is_dir() else []:
            cases.append(Case(provider, path.stem, path, path.read_bytes(), "constructed payload, see constructed/README.md"))
    return cases + _transformed_cases()


# --- running a case ------------------------------------------------------------------------------------

def rejection(exc: WebhookRejected) -> dict[str, str]:
    return {"outcome": "rejected", "error": type(exc).__name__, "reason": exc.reason}


def parsed_json(parsed: ParsedWebhook) -> dict[str, Any]:
    return {
        "outcome": "parsed",
        "alerts": [alert.model_dump(mode="json") for alert in parsed.alerts],
        "delivery_key": parsed.delivery_key,
        "side_effects": [{"kind": effect.kind, "url": effect.url, "detail": dict(effect.detail)}
                         for effect in parsed.side_effects],
        "response_body": dict(parsed.response_body) if parsed.response_body is not None else None,
        "note": parsed.note,
    }


def outcome(case: Case) -> dict[str, Any]:
    provider = PROVIDERS[case.provider]
    integration = integration_for(case.provider, case.name.split(".")[0])
    delivered = DELIVERIES[case.provider](case.body, integration, case.name.split(".")[0])
    context = FakeContext()
    try:
        run(provider.authenticate(delivered, integration, context))
        authenticated: dict[str, Any] = {"outcome": "accepted"}
    except WebhookRejected as exc:
        authenticated = rejection(exc)
    try:
        parsed: dict[str, Any] = parsed_json(provider.parse(delivered, integration))
    except WebhookRejected as exc:
        parsed = rejection(exc)
    result: dict[str, Any] = {"source": str(case.source.relative_to(CONTRACT_DIR))}
    if case.why:
        result["transformed"] = case.why
    result["authenticate"] = authenticated
    result["parse"] = parsed
    return result
