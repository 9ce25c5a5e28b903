"""A source gone silent raises an alert of its own (issue 11.2): the decision, the alert, the options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signalcraft_query_api.domain.config import InvalidIntegration, NewIntegration, check_integration
from signalcraft_query_api.domain.projection import webhook_activity
from signalcraft_query_api.domain.silence import (
    Raise, Resolve, SilenceAlert, Watched, alert_of, decide, duration, event, group_key, needs_history, raised_record,
    steps, with_history,
)
from signalcraft_schemas import AlertStatus, Severity

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LAST = NOW - timedelta(hours=3)  # spoke every 10 minutes for an hour, then not for 3 hours


def watched(last: datetime | None = LAST, *, enabled: bool = True, webhooks: int = 7,
            options: dict[str, str] | None = None) -> Watched:
    return Watched(integration_id="int-1", workspace_id="ws-1", provider="sentry", name="Backend", enabled=enabled,
                   options={"alert_when_silent": "true"} if options is None else options, last_webhook_at=last,
                   webhooks=webhooks, first_at=None if last is None else last - timedelta(minutes=60))


def raised(quiet_since: datetime = LAST, resolved_at: datetime | None = None) -> SilenceAlert:
    step = decide(watched(quiet_since), None, quiet_since + timedelta(hours=3))
    assert isinstance(step, Raise)
    stored = raised_record(step, alert_of(step, NOW), NOW)
    return SilenceAlert(**{**stored.__dict__, "resolved_at": resolved_at})


def test_a_watched_integration_quiet_for_ten_usual_gaps_raises():
    step = decide(watched(), None, NOW)
    assert isinstance(step, Raise) and step.quiet_since == LAST
    assert step.silence.usual_gap_seconds == 600.0 and step.silence.silent


def test_not_silent_yet_raises_nothing():
    assert decide(watched(NOW - timedelta(minutes=30)), None, NOW) is None  # 3 usual gaps
    assert decide(watched(NOW - timedelta(minutes=5)), None, NOW) is None


@pytest.mark.parametrize("integration", [
    watched(options={}), watched(options={"alert_when_silent": "false"}), watched(enabled=False), watched(last=None),
], ids=["option absent", "option off", "disabled", "never spoke"])
def test_only_a_watched_integration_that_spoke_once_raises(integration: Watched):
    assert decide(integration, None, NOW) is None
    assert not needs_history(integration, None, NOW)


def test_one_silence_raises_once_even_after_its_alert_was_resolved():
    assert decide(watched(), raised(), NOW + timedelta(hours=1)) is None  # open: already raised
    # Resolved (say the option went off and on again) but still the same silence: not again.
    assert decide(watched(), raised(resolved_at=NOW), NOW + timedelta(hours=1)) is None
    assert not needs_history(watched(), raised(resolved_at=NOW), NOW)


def test_speaking_again_resolves_the_open_alert_and_a_later_silence_raises_anew():
    spoke = LAST + timedelta(hours=4)
    step = decide(watched(spoke), raised(), spoke + timedelta(minutes=1))
    assert isinstance(step, Resolve) and step.reason == "spoke_again"
    later = decide(watched(spoke), raised(resolved_at=spoke), spoke + timedelta(hours=3))
    assert isinstance(later, Raise) and later.quiet_since == spoke


@pytest.mark.parametrize("integration", [None, watched(enabled=False), watched(options={"alert_when_silent": "no"})],
                         ids=["deleted", "disabled", "option off"])
def test_an_open_alert_is_resolved_when_its_integration_is_not_watched_any_more(integration: Watched | None):
    step = decide(integration, raised(), NOW)
    assert isinstance(step, Resolve) and step.reason == "not_watched"


def test_few_webhooks_is_silent_only_after_the_history_window():
    assert decide(watched(webhooks=2, last=NOW - timedelta(days=3)), None, NOW) is None
    step = decide(watched(webhooks=0, last=NOW - timedelta(days=8)), None, NOW)
    assert isinstance(step, Raise) and step.silence.usual_gap_seconds is None
    assert alert_of(step, NOW).title == "Sentry integration 'Backend' silent for 8d"


def test_steps_resolve_before_they_raise_and_history_fills_in():
    other = Watched(integration_id="int-2", workspace_id="ws-1", provider="grafana", name="G", enabled=True,
                    options={"alert_when_silent": "true"}, last_webhook_at=LAST)
    filled = with_history({"int-1": watched(LAST + timedelta(hours=4)), "int-2": other},
                          {"int-2": (7, LAST - timedelta(hours=1))})
    assert filled["int-2"].webhooks == 7
    found = steps(filled, {"int-1": raised()}, LAST + timedelta(hours=5))
    assert [type(s) for s in found] == [Resolve, Raise]


def test_the_raised_alert_goes_through_the_pipeline_like_any_other():
    step = decide(watched(options={"alert_when_silent": "true", "default_project": "checkout",
                                   "default_environment": "production"}), None, NOW)
    assert isinstance(step, Raise)
    alert = alert_of(step, NOW)
    assert alert.title == "Sentry integration 'Backend' silent for 3h (usually every 10m)"
    assert (alert.source, alert.project, alert.environment, alert.severity) == ("signalcraft", "checkout", "prod",
                                                                               Severity.MEDIUM)
    assert alert.status == AlertStatus.FIRING and alert.tags["integration_id"] == "int-1"
    env = event(step, alert, NOW)
    assert env.key == env.data.group_key == group_key("int-1") == "signalcraft:silent:int-1"
    assert env.workspace_id == "ws-1" and env.data.integration_id == "signalcraft"
    assert env.data.delivery_id.startswith("signalcraft:silence:int-1:") and env.data.delivery_id.endswith(":raised")


def test_the_resolution_repeats_the_raised_alert_resolved():
    stored = raised()
    step = Resolve(stored, "spoke_again")
    resolution = alert_of(step, NOW + timedelta(hours=1))
    assert resolution.status == AlertStatus.RESOLVED and resolution.title == stored.alert.title
    env = event(step, resolution, NOW)
    assert env.data.group_key == "signalcraft:silent:int-1" and env.data.delivery_id.endswith(":resolved")
    assert env.data.delivery_id != stored.alert.source_event_id


def test_severity_and_environment_options():
    step = decide(watched(options={"alert_when_silent": "yes", "silent_alert_severity": "High",
                                   "silent_alert_environment": "staging", "default_environment": "prod"}), None, NOW)
    assert isinstance(step, Raise)
    alert = alert_of(step, NOW)
    assert (alert.severity, alert.environment, alert.project) == (Severity.HIGH, "staging", "signalcraft")


@pytest.mark.parametrize(("seconds", "text"), [(45, "45s"), (600, "10m"), (10_800, "3h"), (9_000, "2h 30m"),
                                                (777_600, "9d"), (90_061, "1d 1h"), (0, "0s"),
                                                (7_205, "2h"), (90, "1m 30s")])
def test_durations_read_like_a_person_says_them(seconds: float, text: str):
    assert duration(seconds) == text


@pytest.mark.parametrize("options", [{"alert_when_silent": "maybe"}, {"silent_alert_severity": "urgent"}])
def test_a_bad_silence_option_is_refused(options: dict[str, str]):
    with pytest.raises(InvalidIntegration):
        check_integration(NewIntegration(workspace_id="ws-1", provider="sentry", name="S", options=options))
    check_integration(NewIntegration(workspace_id="ws-1", provider="sentry", name="S",
                                     options={"alert_when_silent": "true", "silent_alert_severity": "low"}))


def test_signalcraft_s_own_alerts_are_no_webhook_activity():
    rows = [{"integration_id": "signalcraft", "workspace_id": "ws-1", "received_at": NOW},
            {"integration_id": "int-1", "workspace_id": "ws-1", "received_at": NOW}]
    assert [r["integration_id"] for r in webhook_activity(rows)] == ["int-1"]


def test_patching_the_option_keeps_the_other_options_and_what_is_not_patched():
    from signalcraft_query_api.domain.integration_ops import StoredIntegration, integration_view, patched

    stored = StoredIntegration(integration_id="int-1", workspace_id="ws-1", provider="sentry", name="S",
                               secret_encrypted="sealed", enabled=True, options={"default_project": "api"})
    on = patched(stored, None, True)
    assert on.enabled and on.options == {"default_project": "api", "alert_when_silent": "true"}
    off = patched(on, False, None)
    assert not off.enabled and off.options["alert_when_silent"] == "true"
    assert patched(off, None, False).options["alert_when_silent"] == "false"
    assert integration_view(on, NOW)["options"]["alert_when_silent"] == "true"
