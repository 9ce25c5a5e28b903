"""The read API's arithmetic: keyset pages and the dashboard's ratios."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from signalcraft_query_api.domain.read_views import (
    InvalidCursor, OverviewCounts, Silence, ack_rate, actionability, alerts_per_group, decode_cursor, dedup_ratio,
    encode_cursor, first_whole_day, first_whole_hour, hourly_series, hours_of, mtta_seconds, next_cursor, overview, page, quick_actions, resume_after,
    silence, sse_message, timeline,
)

from ..builders import at


def test_a_full_page_says_where_the_next_one_starts_and_a_short_one_that_it_is_the_last():
    rows = [{"received_at": at(3)}, {"received_at": at(2)}]
    assert page(rows, 2, "received_at") == {"items": rows, "next_before": at(2)}
    assert page(rows, 3, "received_at") == {"items": rows, "next_before": None}
    assert page([], 50, "last_seen_at") == {"items": [], "next_before": None}


def test_dedup_ratio_is_the_share_of_alerts_that_opened_no_group():
    assert dedup_ratio(alerts=100, groups=5) == 0.95
    assert dedup_ratio(alerts=3, groups=3) == 0.0
    assert dedup_ratio(alerts=3, groups=1) == 0.6667  # rounded to four places
    assert dedup_ratio(alerts=0, groups=0) is None


def test_ack_rate_and_mtta():
    assert ack_rate(groups=8, acknowledged=2) == 0.25
    assert ack_rate(groups=0, acknowledged=0) is None
    assert mtta_seconds(Decimal("61.2549")) == 61.3  # PostgreSQL's avg() is a numeric
    assert mtta_seconds(None) is None


def test_alerts_per_group():
    assert alerts_per_group(alerts=10, groups=3) == 3.33
    assert alerts_per_group(alerts=0, groups=0) is None


def test_overview_puts_counts_and_ratios_together():
    counts = OverviewCounts(
        alerts=100, groups=5, acknowledged=1, mean_ack_seconds=Decimal("30"), resolved=2,
        noisy_sources=[{"source": "sentry", "project": "checkout", "alerts": 90, "groups": 4}],
        delivered=5, failed=1, last_delivered_at=at(1), integrations=[{"integration_id": "sen-1"}],
        acknowledged_by={"slack": 1, "api": 0, "provider": 0}, mean_resolve_seconds=Decimal("600.04"))
    answer = overview(counts, window_hours=24).model_dump(exclude_none=True)
    assert answer | {"integrations": None} == {
        "window_hours": 24, "alerts": 100, "groups": 5, "dedup_ratio": 0.95, "ack_rate": 0.2, "mtta_seconds": 30.0,
        "mttr_seconds": 600.0, "acknowledged_by": {"slack": 1, "api": 0, "provider": 0}, "resolved": 2,
        "noisy_sources": [{"source": "sentry", "project": "checkout", "alerts": 90, "groups": 4,
                           "alerts_per_group": 22.5}],
        "notifications": {"delivered": 5, "failed": 1, "last_delivered_at": at(1)},
        "integrations": None, "series": [], "actionability_by_source": [], "actionability_by_rule": [],
    }
    assert answer["integrations"] == [{"integration_id": "sen-1"}]


def test_cursors_round_trip_and_refuse_what_they_did_not_hand_out():
    key = (at(3), UUID(int=7))
    assert decode_cursor(encode_cursor(*key), (datetime, UUID)) == key
    assert decode_cursor(encode_cursor(12, UUID(int=7)), (int, UUID)) == (12, UUID(int=7))
    for bad in ("", "x", encode_cursor("not a time", UUID(int=1)), encode_cursor(at(1)), encode_cursor(True, 1)):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, (datetime, UUID))


def test_next_cursor_only_after_a_full_page():
    rows = [{"received_at": at(3), "event_id": UUID(int=2)}, {"received_at": at(3), "event_id": UUID(int=1)}]
    assert decode_cursor(next_cursor(rows, 2, "received_at", "event_id"), (datetime, UUID)) == (at(3), UUID(int=1))
    assert next_cursor(rows, 3, "received_at", "event_id") is None


def test_the_hourly_series_has_every_hour_of_the_window_with_zeros():
    since, now = at(0) - timedelta(hours=2, minutes=30), at(0)
    hour = at(0).replace(minute=0, second=0, microsecond=0)
    series = hourly_series({hour: 4}, {hour - timedelta(hours=1): 1}, since, now)
    assert [(p.alerts, p.groups) for p in series][-2:] == [(0, 1), (4, 0)]
    assert len(series) == len(hours_of(since, now)) and series[0].at <= since


def test_the_rollup_gives_the_hours_from_the_first_whole_one_the_alerts_give_the_part_before():
    on_the_hour = at(0).replace(minute=0, second=0, microsecond=0)
    assert first_whole_hour(on_the_hour) == on_the_hour
    assert first_whole_hour(on_the_hour + timedelta(microseconds=1)) == on_the_hour + timedelta(hours=1)
    assert first_whole_hour(on_the_hour - timedelta(minutes=20)) == on_the_hour


def test_the_rollup_gives_the_hours_before_the_first_whole_day_and_the_days_from_it():
    midnight = datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert first_whole_day(midnight) == midnight
    assert first_whole_day(midnight + timedelta(hours=1)) == midnight + timedelta(days=1)
    assert first_whole_day(midnight - timedelta(hours=1)) == midnight
    # A window's start in another offset is placed on UTC days, as the rollup's days are.
    plus_two = timezone(timedelta(hours=2))
    assert first_whole_day(datetime(2026, 3, 2, 1, tzinfo=plus_two)) == midnight


def test_actionability_is_the_share_a_person_acted_on_least_actionable_first():
    rows = [{"source": "grafana", "groups": 4, "acted": 3, "self_resolved": 1, "untouched": 0},
            {"source": "sentry", "groups": 10, "acted": 1, "self_resolved": 6, "untouched": 3},
            {"rule_id": None, "source": None, "groups": 0, "acted": 0, "self_resolved": 0, "untouched": 0}]
    scored = actionability(rows, "source")
    assert [(a.key, a.score) for a in scored] == [("sentry", 0.1), ("grafana", 0.75), ("default", None)]


def test_a_source_is_silent_after_ten_of_its_usual_gaps_and_at_least_fifteen_minutes():
    now = at(0)
    every_10_min = silence(webhooks=7, first_at=now - timedelta(hours=3), last_at=now - timedelta(hours=2), now=now)
    assert every_10_min == Silence(usual_gap_seconds=600.0, silent_for_seconds=7200.0, silent=True)
    recent = silence(webhooks=7, first_at=now - timedelta(hours=1), last_at=now - timedelta(minutes=20), now=now)
    assert not recent.silent  # quiet 20 min, usual gap 6.7 min: 10 gaps is 67 min
    chatty = silence(webhooks=100, first_at=now - timedelta(minutes=99), last_at=now - timedelta(minutes=10), now=now)
    assert not chatty.silent  # ten gaps is 9 minutes, but nobody is paged under 15
    assert not silence(2, now - timedelta(hours=5), now - timedelta(hours=4), now).silent  # too little history
    assert silence(0, None, now - timedelta(days=8), now).silent  # nothing for over a week
    assert silence(0, None, None, now) == Silence(None, None, False)  # never spoke


def test_the_timeline_names_each_step_and_who_took_it():
    first = {"received_at": at(0), "source": "sentry", "integration_id": "sen-1", "event_id": UUID(int=1),
             "delivery_id": "d1"}
    entries = [
        {"event_id": UUID(int=2), "at": at(0), "kind": "opened", "detail": {"count": 1}},
        {"event_id": UUID(int=3), "at": at(1), "kind": "notification_requested", "detail": {"rule_id": "r1"}},
        {"event_id": UUID(int=4), "at": at(2), "kind": "acknowledged", "detail": {"by": "slack:T1/U1"}},
        {"event_id": UUID(int=5), "at": at(3), "kind": "escalated", "detail": {"level": 1}},
    ]
    lines = [(e.step, e.actor) for e in timeline(first, entries)]
    assert lines == [("received", "sentry:sen-1"), ("grouped", "grouping"), ("routed", "router"),
                     ("acked", "slack:T1/U1"), ("escalated", "escalator")]


def test_quick_actions_follow_the_state_and_carry_the_rules_links():
    group = {"group_id": UUID(int=1), "status": "acknowledged", "runbook_url": "https://rb",
             "quick_actions": [{"label": "Logs", "url": "https://logs"}]}
    labels = [(a.label, a.kind) for a in quick_actions(group)]
    assert labels == [("unack", "command"), ("snooze", "command"), ("resolve", "command"), ("assign", "command"),
                      ("note", "command"), ("Runbook", "link"), ("Logs", "link")]
    assert [a.label for a in quick_actions({"group_id": UUID(int=1), "status": "resolved"})] == ["note"]


def test_sse_messages_and_where_a_stream_resumes():
    assert sse_message(7, "group.opened", {"a": 1}) == 'id: 7\nevent: group.opened\ndata: {"a":1}\n\n'
    assert resume_after("42") == 42 and resume_after(" 3 ") == 3
    assert resume_after("junk") is None and resume_after("") is None
