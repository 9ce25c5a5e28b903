"""CloudWatch via SNS: signature versions 1 and 2, certificate URL policy, topics, message types."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from signalcraft_schemas import AlertStatus, Severity
from signalcraft_ingest.domain.errors import AuthenticationFailed, UnsupportedPayload
from signalcraft_ingest.domain.providers.cloudwatch import CloudWatchProvider
from signalcraft_ingest.domain.sns_verification import string_to_sign

from .helpers import SNS_KEY, FakeContext, SnsKey, make_integration, make_request

PROVIDER = CloudWatchProvider()
TOPIC = "arn:aws:sns:eu-west-1:111122223333:alarms"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
INTEGRATION = make_integration("cloudwatch", "unused", topic_arns=f"{TOPIC}, arn:aws:sns:eu-west-1:1:other",
                               default_project="storage", default_environment="production")
ALARM = {"AlarmName": "disk-full", "AlarmDescription": "Disk above 90%", "AWSAccountId": "111122223333",
         "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed", "StateChangeTime": "2024-05-01T11:59:00.000+0000",
         "Region": "EU (Ireland)", "OldStateValue": "OK",
         "Trigger": {"MetricName": "DiskUsed", "Namespace": "CWAgent", "Dimensions": [{"name": "host", "value": "db-1"}]}}


def notification(alarm: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC, "Subject": 'ALARM: "disk-full" in EU (Ireland)',
            "Message": json.dumps(alarm if alarm is not None else ALARM), "Timestamp": "2024-05-01T11:59:01.000Z",
            "SigningCertURL": CERT_URL, "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
            **extra}


def confirmation(topic: str = TOPIC, kind: str = "SubscriptionConfirmation", **extra: Any) -> dict[str, Any]:
    return {"Type": kind, "MessageId": "m-2", "Token": "tok", "TopicArn": topic, "Message": "You have chosen...",
            "SubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=tok",
            "Timestamp": "2024-05-01T11:59:01.000Z", "SigningCertURL": CERT_URL, **extra}


@pytest.mark.parametrize("version", ["1", "2"])
async def test_signature_versions_verify(version: str) -> None:
    context = FakeContext()
    await PROVIDER.authenticate(make_request(SNS_KEY.sign(notification(), version)), INTEGRATION, context)
    assert context.fetched == [CERT_URL]


def test_string_to_sign_follows_the_documented_field_order() -> None:
    message = notification()
    expected = "".join(f"{name}\n{message[name]}\n" for name in
                       ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"))
    assert string_to_sign(message) == expected.encode()
    without_subject = {k: v for k, v in message.items() if k != "Subject"}
    assert b"Subject" not in string_to_sign(without_subject)


async def test_signature_from_another_key_or_a_changed_message_is_refused() -> None:
    signed = SNS_KEY.sign(notification(), "2")
    with pytest.raises(AuthenticationFailed, match="does not match"):
        await PROVIDER.authenticate(make_request(signed), INTEGRATION, FakeContext(pem=SnsKey().pem))
    tampered = {**signed, "Message": json.dumps({**ALARM, "NewStateValue": "OK"})}
    with pytest.raises(AuthenticationFailed, match="does not match"):
        await PROVIDER.authenticate(make_request(tampered), INTEGRATION, FakeContext())
    version_swapped = {**signed, "SignatureVersion": "1"}
    with pytest.raises(AuthenticationFailed, match="does not match"):
        await PROVIDER.authenticate(make_request(version_swapped), INTEGRATION, FakeContext())


@pytest.mark.parametrize("url, reason", [
    ("https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem", "not an allowed SNS host"),
    ("https://attacker.example/SimpleNotificationService-abc.pem", "not an allowed SNS host"),
    ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", "must be https"),
    ("https://user:pw@sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", "credentials"),
    ("https://sns.eu-west-1.amazonaws.com/cert.txt", ".pem"),
])
async def test_certificate_url_policy_is_enforced_before_fetching(url: str, reason: str) -> None:
    context = FakeContext()
    with pytest.raises(AuthenticationFailed, match=reason):
        await PROVIDER.authenticate(make_request(SNS_KEY.sign(notification(SigningCertURL=url))), INTEGRATION, context)
    assert context.fetched == []


async def test_custom_certificate_host_pattern() -> None:
    url = "https://certs.internal.example/sns.pem"
    integration = make_integration("cloudwatch", topic_arns=TOPIC, cert_host_pattern=r"^certs\.internal\.example$")
    await PROVIDER.authenticate(make_request(SNS_KEY.sign(notification(SigningCertURL=url))), integration, FakeContext())


async def test_expired_certificate_unsupported_version_and_placeholder_signature_are_refused() -> None:
    expired = SnsKey(not_after=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(AuthenticationFailed, match="not valid at the time"):
        await PROVIDER.authenticate(make_request(expired.sign(notification())), INTEGRATION, FakeContext(pem=expired.pem))
    with pytest.raises(AuthenticationFailed, match="SignatureVersion"):
        await PROVIDER.authenticate(make_request({**SNS_KEY.sign(notification()), "SignatureVersion": "3"}),
                                    INTEGRATION, FakeContext())
    context = FakeContext()
    with pytest.raises(AuthenticationFailed, match="base64"):
        await PROVIDER.authenticate(make_request({**notification(), "SignatureVersion": "1", "Signature": "EXAMPLEw6JRN..."}),
                                    INTEGRATION, context)
    assert context.fetched == []
    with pytest.raises(AuthenticationFailed, match="PEM"):
        await PROVIDER.authenticate(make_request(SNS_KEY.sign(notification())), INTEGRATION, FakeContext(pem=b"<html>"))


async def test_unlisted_topic_is_refused_without_fetching() -> None:
    context = FakeContext()
    other = SNS_KEY.sign(notification(TopicArn="arn:aws:sns:eu-west-1:999:strangers"))
    with pytest.raises(AuthenticationFailed, match="topic_arns"):
        await PROVIDER.authenticate(make_request(other), INTEGRATION, context)
    with pytest.raises(AuthenticationFailed, match="topic_arns"):
        PROVIDER.parse(make_request(other), INTEGRATION)
    assert context.fetched == []


async def test_an_integration_without_topic_arns_accepts_no_message_from_any_topic() -> None:
    """Any AWS account can sign a valid SNS message: without the allow-list nothing is accepted."""
    no_list = make_integration("cloudwatch")
    context = FakeContext()
    signed = SNS_KEY.sign(notification())
    with pytest.raises(AuthenticationFailed, match="has no topic_arns"):
        await PROVIDER.authenticate(make_request(signed), no_list, context)
    with pytest.raises(AuthenticationFailed, match="has no topic_arns"):
        PROVIDER.parse(make_request(signed), no_list)
    assert context.fetched == []


async def test_subscription_confirmation_for_a_listed_topic_asks_for_confirmation() -> None:
    message = SNS_KEY.sign(confirmation())
    await PROVIDER.authenticate(make_request(message), INTEGRATION, FakeContext())
    parsed = PROVIDER.parse(make_request(message, {"x-amz-sns-message-type": "SubscriptionConfirmation"}), INTEGRATION)
    assert parsed.alerts == [] and parsed.delivery_key == "m-2"
    [effect] = parsed.side_effects
    assert (effect.kind, effect.url, dict(effect.detail)) == ("confirm_subscription", message["SubscribeURL"],
                                                              {"topic_arn": TOPIC})


async def test_subscription_for_an_unlisted_topic_or_without_topic_arns_is_refused() -> None:
    unlisted = SNS_KEY.sign(confirmation("arn:aws:sns:eu-west-1:999:strangers"))
    with pytest.raises(AuthenticationFailed, match="topic_arns"):
        await PROVIDER.authenticate(make_request(unlisted), INTEGRATION, FakeContext())
    with pytest.raises(AuthenticationFailed, match="topic_arns"):
        PROVIDER.parse(make_request(unlisted), INTEGRATION)
    no_list = make_integration("cloudwatch")
    with pytest.raises(AuthenticationFailed, match="set the integration option topic_arns"):
        PROVIDER.parse(make_request(SNS_KEY.sign(confirmation())), no_list)


def test_subscribe_url_must_be_an_sns_https_url() -> None:
    message = confirmation(SubscribeURL="https://169.254.169.254/latest/meta-data/")
    with pytest.raises(AuthenticationFailed, match="SubscribeURL"):
        PROVIDER.parse(make_request(message), INTEGRATION)


def test_unsubscribe_confirmation_is_noted() -> None:
    parsed = PROVIDER.parse(make_request(confirmation(kind="UnsubscribeConfirmation")), INTEGRATION)
    assert parsed.alerts == [] and parsed.side_effects == [] and TOPIC in (parsed.note or "")


@pytest.mark.parametrize("state, status, severity", [
    ("ALARM", AlertStatus.FIRING, Severity.CRITICAL), ("OK", AlertStatus.RESOLVED, Severity.INFO),
    ("INSUFFICIENT_DATA", AlertStatus.FIRING, Severity.LOW)])
def test_alarm_states(state: str, status: AlertStatus, severity: Severity) -> None:
    integration = make_integration("cloudwatch", topic_arns=TOPIC, alarm_severity="critical")
    parsed = PROVIDER.parse(make_request(notification({**ALARM, "NewStateValue": state})), integration)
    [alert] = parsed.alerts
    assert (alert.status, alert.severity) == (status, severity)
    assert parsed.delivery_key == "m-1" and alert.source_event_id == "m-1"


def test_notification_fields() -> None:
    [alert] = PROVIDER.parse(make_request(notification()), INTEGRATION).alerts
    assert alert.fingerprint == "111122223333:EU (Ireland):disk-full"
    assert (alert.project, alert.environment, alert.severity) == ("storage", "prod", Severity.HIGH)
    assert alert.title == 'ALARM: "disk-full" in EU (Ireland)'
    assert alert.tags["dimension.host"] == "db-1" and alert.tags["cloudwatch.metric"] == "DiskUsed"
    assert alert.link == "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/disk-full"
    assert alert.occurred_at.isoformat() == "2024-05-01T11:59:00+00:00"
    with_arn = {**ALARM, "AlarmArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:disk-full"}
    assert PROVIDER.parse(make_request(notification(with_arn)), INTEGRATION).alerts[0].fingerprint == with_arn["AlarmArn"]


@pytest.mark.parametrize("message", ["Hello world!", json.dumps({"AlarmName": "x"}), json.dumps([1])])
def test_notification_that_is_not_an_alarm_is_unsupported(message: str) -> None:
    with pytest.raises(UnsupportedPayload):
        PROVIDER.parse(make_request({**notification(), "Message": message}), INTEGRATION)


def test_message_type_header_must_agree_with_the_body() -> None:
    with pytest.raises(UnsupportedPayload, match="does not match"):
        PROVIDER.parse(make_request(notification(), {"x-amz-sns-message-type": "SubscriptionConfirmation"}), INTEGRATION)
