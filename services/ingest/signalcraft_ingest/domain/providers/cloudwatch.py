"""AWS CloudWatch alarms delivered by an Amazon SNS HTTPS subscription. See
shared/fixtures/SIGNATURES.md, "AWS CloudWatch alarm -> Amazon SNS -> HTTP/S subscription".

Authentication is SNS's own message signature (domain/sns_verification.py), checked with the public key
of the X.509 certificate at `SigningCertURL`. The certificate is fetched through
`ProviderContext.fetch_certificate`, and only from an https URL whose host matches `cert_host_pattern`
and whose path ends in ".pem"; it must be valid at the time the request was received. The
integration secret is not used.

Topics. `topic_arns` lists the SNS topics this integration accepts, and is required: any AWS account
can sign a valid SNS message, so without the list a stranger's topic could deliver alarms here. A
message from a topic not on the list, or any message to an integration without the list (one
created before it was required), is refused with AuthenticationFailed (it is authentic, but not
from *this* integration), before any certificate is fetched. A SubscriptionConfirmation's
SubscribeURL must also be https on an SNS host, since ingest will GET it.

Message types:
  SubscriptionConfirmation -> no alerts; a `confirm_subscription` side effect (GET SubscribeURL).
  UnsubscribeConfirmation  -> no alerts; a note.
  Notification             -> `Message` is the CloudWatch alarm as a JSON string:
                              ALARM -> firing, severity `alarm_severity`;
                              OK -> resolved, severity info;
                              INSUFFICIENT_DATA -> firing, severity low (the alarm cannot evaluate:
                              worth seeing, rarely worth a page).
  fingerprint = AlarmArn, else "<AWSAccountId>:<Region>:<AlarmName>"; delivery_key = MessageId
  (SNS reuses it on retries).

Options:
  topic_arns           comma-separated topic ARNs; required (the config API refuses an integration without it).
  cert_host_pattern    regex the certificate (and SubscribeURL) host must match;
                       default r"^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$".
  alarm_severity       severity word for ALARM, default "high".
  default_project      project; else the alarm's metric namespace (e.g. "AWS/S3"); else "unknown".
  default_environment  environment; else "unknown".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from signalcraft_schemas import AlertStatus, NormalizedAlert, Severity

from ..errors import AuthenticationFailed, UnsupportedPayload
from ..normalize import (
    MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, clean_tags, clip, normalize_environment, parse_time, require,
    severity_from_word,
)
from ..sns_verification import (
    DEFAULT_CERT_HOST_PATTERN, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION, check_https_url, message_type,
    sns_signature, verify_sns_signature,
)
from .base import Integration, ParsedWebhook, ProviderContext, SideEffect, WebhookRequest
from .common import UNKNOWN_PROJECT, json_object

SOURCE = "cloudwatch"
MESSAGE_TYPE_HEADER = "x-amz-sns-message-type"

STATE_STATUS = {"ALARM": AlertStatus.FIRING, "OK": AlertStatus.RESOLVED, "INSUFFICIENT_DATA": AlertStatus.FIRING}
REGION_IN_ARN = re.compile(r"^arn:aws[a-z-]*:(?:cloudwatch|sns):([a-z0-9-]+):")


def _host_pattern(integration: Integration) -> re.Pattern[str]:
    try:
        return re.compile(integration.options.get("cert_host_pattern", DEFAULT_CERT_HOST_PATTERN))
    except re.error:
        raise AuthenticationFailed("integration option cert_host_pattern is not a valid regular expression") from None


def check_sns_url(url: Any, what: str, integration: Integration, require_pem: bool) -> str:
    """The URL if it passes the policy for this integration's allowed hosts."""
    if not isinstance(url, str) or not url:
        raise AuthenticationFailed(f"SNS message: missing {what}")
    return check_https_url(url, _host_pattern(integration), what, require_pem)


def _topic_arns(integration: Integration) -> set[str]:
    return {arn.strip() for arn in integration.options.get("topic_arns", "").split(",") if arn.strip()}


def check_topic(message: Mapping[str, Any], integration: Integration) -> None:
    """Refuse topics this integration does not list; an integration without a list accepts none."""
    allowed = _topic_arns(integration)
    topic = message.get("TopicArn") if isinstance(message.get("TopicArn"), str) else None
    if not allowed:
        raise AuthenticationFailed(
            f"SNS topic {topic!r} refused: this integration has no topic_arns; set the integration option "
            "topic_arns to the topics it accepts")
    if topic not in allowed:
        raise AuthenticationFailed(f"SNS topic {topic!r} is not in this integration's topic_arns")


class CloudWatchProvider:
    name = SOURCE

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        message = json_object(request)
        if message_type(message) is None:
            raise AuthenticationFailed(f"cannot verify: not an SNS message (Type {message.get('Type')!r})")
        check_topic(message, integration)
        cert_url = check_sns_url(message.get("SigningCertURL"), "SigningCertURL", integration, require_pem=True)
        # Everything that can be refused without the certificate is refused before fetching it.
        signature = sns_signature(message)
        verify_sns_signature(await context.fetch_certificate(cert_url), signature, request.received_at)

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        message = json_object(request)
        kind = message_type(message)
        if kind is None:
            raise UnsupportedPayload(f"not an SNS HTTP message: Type {message.get('Type')!r}")
        header_type = request.header(MESSAGE_TYPE_HEADER)
        if header_type is not None and header_type != kind:
            raise UnsupportedPayload(f"{MESSAGE_TYPE_HEADER} {header_type!r} does not match Type {kind!r}")
        check_topic(message, integration)
        message_id = str(require(message, "MessageId", f"SNS {kind}"))
        topic = str(require(message, "TopicArn", f"SNS {kind}"))
        if kind == SUBSCRIPTION_CONFIRMATION:
            url = check_sns_url(message.get("SubscribeURL"), "SubscribeURL", integration, require_pem=False)
            return ParsedWebhook(
                alerts=[], delivery_key=message_id,
                side_effects=[SideEffect(kind="confirm_subscription", url=url, detail={"topic_arn": topic})],
                note=f"SNS subscription confirmation for {topic}",
            )
        if kind == UNSUBSCRIBE_CONFIRMATION:
            return ParsedWebhook(alerts=[], delivery_key=message_id, note=f"SNS unsubscribe confirmation for {topic}")
        return ParsedWebhook(alerts=[_alarm(message, message_id, request, integration)], delivery_key=message_id)

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        return None


def _alarm_message(message: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = message.get("Message")
    if not isinstance(raw, str):
        raise UnsupportedPayload("SNS Notification: missing 'Message'")
    try:
        alarm = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UnsupportedPayload("SNS Notification Message is not JSON, so not a CloudWatch alarm") from None
    if not isinstance(alarm, Mapping) or not alarm.get("AlarmName") or not alarm.get("NewStateValue"):
        raise UnsupportedPayload("SNS Notification Message is not a CloudWatch alarm (no AlarmName/NewStateValue)")
    return alarm


def _metric(trigger: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metric a trigger watches: the trigger itself, or the first MetricStat of a metric-math alarm."""
    if trigger.get("MetricName"):
        return trigger
    metrics = trigger.get("Metrics")
    for item in metrics if isinstance(metrics, list) else []:
        stat = item.get("MetricStat") if isinstance(item, Mapping) else None
        metric = stat.get("Metric") if isinstance(stat, Mapping) else None
        if isinstance(metric, Mapping):
            return metric
    return {}


def _console_link(alarm: Mapping[str, Any], topic: str, name: str) -> str | None:
    region = next((match.group(1) for arn in (alarm.get("AlarmArn"), topic)
                   if isinstance(arn, str) and (match := REGION_IN_ARN.match(arn))), None)
    if region is None:
        return None
    return f"https://console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name, safe='')}"


def _alarm(message: Mapping[str, Any], message_id: str, request: WebhookRequest,
           integration: Integration) -> NormalizedAlert:
    alarm = _alarm_message(message)
    state = str(alarm["NewStateValue"])
    status = STATE_STATUS.get(state)
    if status is None:
        raise UnsupportedPayload(f"unknown CloudWatch alarm state {state!r}")
    if state == "ALARM":
        severity = severity_from_word(integration.options.get("alarm_severity", "high"), default=Severity.HIGH)
    elif state == "OK":
        severity = Severity.INFO
    else:
        severity = Severity.LOW
    name = str(alarm["AlarmName"])
    account, region = alarm.get("AWSAccountId"), alarm.get("Region")
    fingerprint = alarm.get("AlarmArn") if isinstance(alarm.get("AlarmArn"), str) and alarm.get("AlarmArn") else (
        f"{account or ''}:{region or ''}:{name}")
    trigger = alarm.get("Trigger") if isinstance(alarm.get("Trigger"), Mapping) else {}
    metric = _metric(trigger)
    tags: dict[str, str] = clean_tags({
        "aws.account": account, "aws.region": region, "cloudwatch.namespace": metric.get("Namespace"),
        "cloudwatch.metric": metric.get("MetricName"), "cloudwatch.old_state": alarm.get("OldStateValue"),
        "cloudwatch.state": state,
    })
    dimensions = metric.get("Dimensions")
    for dimension in dimensions if isinstance(dimensions, list) else []:
        if isinstance(dimension, Mapping) and dimension.get("name") and dimension.get("value") is not None:
            tags.update(clean_tags({f"dimension.{dimension['name']}": dimension["value"]}))
    subject = message.get("Subject")
    title = subject if isinstance(subject, str) and subject else f'{state}: "{name}" in {region or "unknown region"}'
    reason, description = alarm.get("NewStateReason"), alarm.get("AlarmDescription")
    body = "\n\n".join(str(part) for part in (description, reason) if isinstance(part, str) and part)
    project = (integration.options.get("default_project") or (metric.get("Namespace") if isinstance(
        metric.get("Namespace"), str) and metric.get("Namespace") else None) or UNKNOWN_PROJECT)
    return NormalizedAlert(
        source=SOURCE,
        source_event_id=message_id,
        project=project,
        environment=normalize_environment(integration.options.get("default_environment")),
        severity=severity,
        fingerprint=clip(fingerprint, 500),
        title=clip(title, MAX_TITLE_LENGTH),
        description=clip(body, MAX_DESCRIPTION_LENGTH),
        tags=tags,
        occurred_at=(parse_time(alarm.get("StateChangeTime")) or parse_time(message.get("Timestamp"))
                     or request.received_at),
        link=_console_link(alarm, str(message.get("TopicArn") or ""), name),
        status=status,
    )
