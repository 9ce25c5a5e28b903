"""Durations a person sets in the config API (issue 9.7): seconds resolution, ISO 8601, and the minute
fields that keep working beside them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signalcraft_query_api.adapters.config_api import RuleIn, WorkspaceIn
from signalcraft_query_api.domain.config import minutes_covering, rule_saved, workspace_configured


def test_workspace_durations_in_seconds_win_and_the_minute_fields_cover_them():
    body = WorkspaceIn(name="w", dedup_window="90s", auto_close="PT10M", flap_window="15m", flap_quiet="45s",
                       flap_threshold=2)
    event = workspace_configured("ws-1", body.settings()).event
    assert (event.dedup_window_seconds, event.auto_close_seconds, event.flap_window_seconds,
            event.flap_quiet_seconds, event.flap_threshold) == (90, 600, 900, 45, 2)
    assert (event.dedup_window_minutes, event.auto_close_minutes) == (2, 10)
    assert event.dedup_window.total_seconds() == 90 and event.auto_close_after.total_seconds() == 600


def test_the_minute_fields_alone_keep_working():
    event = workspace_configured("ws-1", WorkspaceIn(name="w", dedup_window_minutes=15).settings()).event
    assert (event.dedup_window_minutes, event.dedup_window_seconds, event.dedup_window.total_seconds()) == (15, None, 900)
    assert (event.flap_threshold, event.flap_window_seconds, event.flap_quiet_seconds) == (3, 3600, 1800)


def test_a_rule_escalates_after_seconds_or_minutes():
    seconds = rule_saved("r1", RuleIn(workspace_id="ws", name="r", channel="#c", escalate_after="90s").definition()).event
    assert (seconds.escalate_after_seconds, seconds.escalate_after_minutes, seconds.escalate_after.total_seconds()) == (
        90, 2, 90)
    minutes = rule_saved("r1", RuleIn(workspace_id="ws", name="r", channel="#c", escalate_after_minutes=15).definition()).event
    assert (minutes.escalate_after_seconds, minutes.escalate_after_minutes) == (None, 15)
    never = rule_saved("r1", RuleIn(workspace_id="ws", name="r", channel="#c").definition()).event
    assert never.escalate_after is None


def test_nonsense_and_too_long_durations_are_refused():
    for bad in ({"dedup_window": "soon"}, {"dedup_window": "8d"}, {"auto_close": "0s"}):
        with pytest.raises(ValidationError):
            WorkspaceIn(name="w", **bad)
    with pytest.raises(ValidationError):
        RuleIn(workspace_id="ws", name="r", channel="#c", escalate_after="-5m")


def test_minutes_covering_rounds_up():
    assert [minutes_covering(s, 60) for s in (None, 1, 60, 61, 90)] == [60, 1, 1, 2, 2]
