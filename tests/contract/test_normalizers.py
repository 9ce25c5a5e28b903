"""Every fixture, delivered as its sender would, against its reviewed golden.

Regenerate with SIGNALCRAFT_UPDATE_GOLDENS=1, then read every changed golden against its payload
before committing: the golden is the on-call engineer's expectation, not a snapshot of the code.
"""

from __future__ import annotations

import json
import os

import pytest

from signalcraft_ingest.domain.providers import PROVIDERS

from .support import (
    FIXTURE_DIRS, FIXTURES, GOLDEN, INTEGRATIONS, SNS_SIGNER, UPDATE_GOLDENS, Case, FakeContext, all_cases,
    cloudwatch_delivery, integration_for, outcome, run,
)

CASES = all_cases()


def _golden(case: Case, actual: dict) -> dict:
    if os.environ.get(UPDATE_GOLDENS) == "1":
        case.golden_path.parent.mkdir(parents=True, exist_ok=True)
        case.golden_path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    if not case.golden_path.exists():
        pytest.fail(f"no golden {case.golden_path}; run with {UPDATE_GOLDENS}=1 and review it")
    return json.loads(case.golden_path.read_text())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fixture_matches_golden(case: Case) -> None:
    actual = outcome(case)
    assert actual == _golden(case, actual)


def test_every_fixture_has_a_case_and_every_golden_a_fixture() -> None:
    covered = {case.source for case in CASES}
    requests = {path for folder in FIXTURE_DIRS.values() for path in (FIXTURES / folder).glob("*.json")
                if not path.name.startswith("response-")}
    assert requests <= covered
    goldens = {path.relative_to(GOLDEN).with_suffix("").as_posix() for path in GOLDEN.glob("*/*.json")}
    assert goldens == {case.id for case in CASES}


def test_every_provider_is_covered() -> None:
    assert {case.provider for case in CASES} == set(PROVIDERS)


def _case(case_id: str) -> Case:
    return next(case for case in CASES if case.id == case_id)


def test_sentry_metric_alert_data_only_is_unsupported_until_wrapped() -> None:
    raw = outcome(_case("sentry/metric-alert-critical-data-only-sentry-unit-test"))
    assert raw["parse"]["error"] == "UnsupportedPayload"
    wrapped = outcome(_case("sentry/metric-alert-critical-data-only-sentry-unit-test.wrapped"))
    [alert] = wrapped["parse"]["alerts"]
    assert (alert["severity"], alert["status"], alert["project"]) == ("critical", "firing", "my-proj")
    assert alert["fingerprint"] == "metric_alert:7"


@pytest.mark.parametrize("stem, version", [
    ("alarm-message-single-metric-aws-lambda-go", "1"),
    ("alarm-message-metric-math-aws-lambda-go", "2"),
])
def test_cloudwatch_alarm_message_needs_its_sns_envelope(stem: str, version: str) -> None:
    raw = outcome(_case(f"cloudwatch/{stem}"))
    assert raw["authenticate"]["error"] == "AuthenticationFailed"
    assert raw["parse"]["error"] == "UnsupportedPayload"
    wrapped_case = _case(f"cloudwatch/{stem}.wrapped")
    assert json.loads(wrapped_case.body)["SignatureVersion"] == version
    wrapped = outcome(wrapped_case)
    assert wrapped["authenticate"] == {"outcome": "accepted"}
    [alert] = wrapped["parse"]["alerts"]
    assert alert["fingerprint"] == "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
    assert alert["status"] == "firing" and alert["severity"] == "high"
    assert alert["tags"]["cloudwatch.metric"] == "NetworkOut"


def test_resigned_sns_capture_fetches_the_envelope_certificate() -> None:
    case = _case("cloudwatch/sns-notification-alarm-alerta-test")
    integration = integration_for("cloudwatch", case.name)
    context = FakeContext()
    run(PROVIDERS["cloudwatch"].authenticate(cloudwatch_delivery(case.body, integration, case.name), integration,
                                             context))
    assert context.fetched == [
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-6aad65c2f9911b05cd53efda11f913f9.pem"]


def test_sns_capture_with_its_original_signature_does_not_verify_against_another_key() -> None:
    path = FIXTURES / "cloudwatch" / "sns-notification-alarm-alerta-test.json"
    integration = INTEGRATIONS["cloudwatch"]
    with pytest.raises(Exception) as raised:
        run(PROVIDERS["cloudwatch"].authenticate(cloudwatch_delivery(path.read_bytes(), integration, path.stem),
                                                 integration, FakeContext(pem=SNS_SIGNER.pem)))
    assert type(raised.value).__name__ == "AuthenticationFailed"
    assert "does not match" in str(raised.value)


def test_pagerduty_responses_have_the_api_schema_shapes() -> None:
    folder = FIXTURES / "pagerduty-events-v2"
    success = json.loads((folder / "response-202-success-api-schema.json").read_text())
    error = json.loads((folder / "response-error-api-schema.json").read_text())
    parsed = outcome(_case("pagerduty/trigger-full-api-schema"))["parse"]
    assert parsed["response_body"].keys() == success.keys()
    assert parsed["response_body"]["status"] == success["status"]
    assert parsed["response_body"]["message"] == success["message"]
    body = PROVIDERS["pagerduty"].error_body(400, "JSON parse error")
    assert body.keys() == error.keys() and body["status"] == error["status"] and body["errors"] == error["errors"]
