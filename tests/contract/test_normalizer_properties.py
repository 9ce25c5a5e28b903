"""Properties of every provider, whatever arrives: `parse` and `authenticate` either succeed or raise
one of the three refusals (AuthenticationFailed, MalformedPayload, UnsupportedPayload), never
anything else; and every alert a successful parse returns is a valid NormalizedAlert.

Three kinds of input per provider: arbitrary bytes, arbitrary JSON, and JSON shaped like the
provider's payload with arbitrary values in its fields (which is what reaches the deep branches).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalcraft_schemas import NormalizedAlert
from signalcraft_ingest.domain.errors import AuthenticationFailed, MalformedPayload, UnsupportedPayload
from signalcraft_ingest.domain.providers import PROVIDERS
from signalcraft_ingest.domain.providers.base import Integration, WebhookRequest

from .support import ALERTA_TOPIC, INTEGRATIONS, SNS_SIGNER, FakeContext, request, run

REFUSALS = (AuthenticationFailed, MalformedPayload, UnsupportedPayload)
# ~500 examples per provider across the four properties keeps the whole file well under 30 s.
SHAPED_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BROAD_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
times = st.sampled_from(["0001-01-01T00:00:00Z", "2024-05-01T11:00:00.123456789Z", "2015-06-03T17:43:27.123+0000",
                         "1448435530000", "not a time", "", "9999-99-99"]) | json_values
label_sets = st.dictionaries(st.sampled_from(["alertname", "severity", "service", "job", "env", "grafana_folder",
                                              "instance", "x"]), st.text(max_size=20) | json_values, max_size=6)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values


def optional_dict(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


alertmanager_alert = optional_dict({
    "status": maybe(st.sampled_from(["firing", "resolved"])), "labels": maybe(label_sets),
    "annotations": maybe(st.dictionaries(st.sampled_from(["summary", "description", "title", "runbook_url"]),
                                         st.text(max_size=30), max_size=3)),
    "startsAt": times, "endsAt": times, "fingerprint": maybe(st.text(max_size=16)),
    "generatorURL": maybe(st.text(max_size=20)), "values": json_values, "valueString": maybe(st.text(max_size=20)),
})
alertmanager_payloads = optional_dict({
    "version": maybe(st.sampled_from(["4", "1"])), "status": maybe(st.sampled_from(["firing", "resolved"])),
    "alerts": maybe(st.lists(maybe(alertmanager_alert), max_size=3)), "externalURL": maybe(st.text(max_size=20)),
    "groupKey": maybe(st.sampled_from(["{}:{}", "SignalCraft-57c6d9296de2ad39-1714564798"])),
    "commonLabels": maybe(label_sets), "truncatedAlerts": maybe(st.integers()),
})

datadog_titles = st.sampled_from(["[Triggered on {host:a}] CPU", "[P1] [Recovered] Disk", "[Warn] x", "[TEST] y",
                                  "$EVENT_TITLE", "plain", ""]) | st.text(max_size=30)
datadog_payloads = optional_dict({
    "title": maybe(datadog_titles), "body": maybe(st.sampled_from(["%%%\nhi /monitors#12 \n%%%", "%%%", ""])),
    "date": maybe(times), "id": json_values, "transition": maybe(st.sampled_from(["Triggered", "Recovered", "No Data"])),
    "type": maybe(st.sampled_from(["error", "warning", "success", "P2"])),
    "tags": maybe(st.sampled_from(["env:prod,service:api", "a,b:c", ""]) | st.lists(st.text(max_size=10))),
    "org": json_values,
})
DATADOG_MAPPING = json.dumps({"status": "transition", "severity": "type", "tags": "tags", "fingerprint": ["id", "org.id"],
                              "project": "org.name", "environment": "org.env", "link": "org.link"})

alarm_messages = optional_dict({
    "AlarmName": maybe(st.text(max_size=20)), "NewStateValue": maybe(st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"])),
    "AWSAccountId": json_values, "Region": json_values, "AlarmArn": maybe(st.just("arn:aws:cloudwatch:eu-west-1:1:alarm:a")),
    "StateChangeTime": times, "NewStateReason": json_values, "AlarmDescription": json_values,
    "Trigger": maybe(optional_dict({"MetricName": json_values, "Namespace": json_values, "Dimensions": json_values,
                                    "Metrics": json_values})),
})
sns_messages = optional_dict({
    "Type": maybe(st.sampled_from(["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"])),
    "MessageId": maybe(st.text(max_size=10)), "TopicArn": maybe(st.just(ALERTA_TOPIC)),
    "Message": maybe(alarm_messages.map(json.dumps)), "Subject": json_values, "Timestamp": times,
    "SubscribeURL": maybe(st.sampled_from(["https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
                                           "http://sns.eu-west-1.amazonaws.com/", "https://evil.example/"])),
    "Token": json_values, "SignatureVersion": maybe(st.sampled_from(["1", "2"])),
    "Signature": maybe(st.sampled_from(["", "AAAA", "not base64!"])),
    "SigningCertURL": maybe(st.sampled_from(["https://sns.eu-west-1.amazonaws.com/c.pem", "http://sns.eu-west-1.amazonaws.com/c.pem",
                                             "https://attacker.example/c.pem", "https://u:p@sns.eu-west-1.amazonaws.com/c.pem"])),
})

pagerduty_payloads = optional_dict({
    "routing_key": maybe(st.just(INTEGRATIONS["pagerduty"].secret)),
    "event_action": maybe(st.sampled_from(["trigger", "acknowledge", "resolve"])),
    "dedup_key": maybe(st.text(max_size=20)),
    "payload": maybe(optional_dict({"summary": maybe(st.text(max_size=20)), "source": maybe(st.text(max_size=20)),
                                    "severity": maybe(st.sampled_from(["critical", "error", "warning", "info"])),
                                    "timestamp": times, "custom_details": json_values})),
    "links": json_values, "client": json_values, "client_url": json_values,
})

sentry_payloads = optional_dict({
    "action": maybe(st.sampled_from(["created", "resolved", "triggered", "critical", "warning", "assigned"])),
    "data": maybe(optional_dict({
        "issue": maybe(optional_dict({"id": json_values, "title": json_values, "level": json_values,
                                      "project": json_values, "lastSeen": times})),
        "event": maybe(optional_dict({"event_id": json_values, "url": json_values, "tags": json_values,
                                      "issue_id": json_values, "level": json_values, "fingerprint": json_values})),
        "metric_alert": maybe(optional_dict({"id": json_values, "projects": json_values, "alert_rule": json_values})),
    })),
    "project_name": json_values, "project_slug": json_values, "id": json_values,
    "url": maybe(st.sampled_from(["http://[::1", "https://sentry.io/i/1/?referrer=webhooks_plugin"])),
    "event": maybe(optional_dict({"metadata": json_values, "tags": json_values, "timestamp": times})),
})

SHAPED: dict[str, st.SearchStrategy[Any]] = {
    "sentry": sentry_payloads, "alertmanager": alertmanager_payloads, "grafana": alertmanager_payloads,
    "datadog": datadog_payloads, "cloudwatch": sns_messages, "pagerduty": pagerduty_payloads,
}


def integration(provider: str) -> Integration:
    base = INTEGRATIONS[provider]
    if provider != "datadog":
        return base
    return Integration(base.integration_id, base.workspace_id, provider, base.secret,
                       {**base.options, "mapping": DATADOG_MAPPING}, base.name)


def check_parse(provider: str, delivered: WebhookRequest) -> None:
    try:
        parsed = PROVIDERS[provider].parse(delivered, integration(provider))
    except REFUSALS:
        return
    for alert in parsed.alerts:
        assert alert.source == provider
        assert NormalizedAlert.model_validate_json(alert.model_dump_json()) == alert


def check_authenticate(provider: str, delivered: WebhookRequest) -> None:
    try:
        run(PROVIDERS[provider].authenticate(delivered, integration(provider), FakeContext(pem=SNS_SIGNER.pem)))
    except REFUSALS:
        return


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # stdlib: may write NaN / huge ints, which the parser must refuse


every_provider = pytest.mark.parametrize("provider", sorted(PROVIDERS))


@every_provider
@BROAD_SETTINGS
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_are_parsed_or_refused(provider: str, body: bytes) -> None:
    check_parse(provider, request(body))


@every_provider
@BROAD_SETTINGS
@given(value=json_values)
def test_arbitrary_json_is_parsed_or_refused(provider: str, value: Any) -> None:
    check_parse(provider, request(encode(value)))


@every_provider
@SHAPED_SETTINGS
@given(data=st.data())
def test_provider_shaped_json_is_parsed_or_refused(provider: str, data: st.DataObject) -> None:
    check_parse(provider, request(encode(data.draw(SHAPED[provider]))))


@every_provider
@BROAD_SETTINGS
@given(data=st.data(), headers=st.dictionaries(
    st.sampled_from(["authorization", "x-signalcraft-token", "sentry-hook-signature", "x-grafana-alerting-signature",
                     "x-grafana-alerting-timestamp", "x-amz-sns-message-type"]),
    st.text(max_size=40) | st.sampled_from(["Bearer am-bearer-token", "Basic !!", "Basic dXNlcjpwYXNz", "1714564798"]),
    max_size=3))
def test_authenticate_accepts_or_refuses(provider: str, data: st.DataObject, headers: dict[str, str]) -> None:
    body = encode(data.draw(SHAPED[provider] | json_values))
    check_authenticate(provider, request(body, headers, {"token": "x"} if data.draw(st.booleans()) else {}))
