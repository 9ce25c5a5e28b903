"""On-call rotation arithmetic: wall-clock handoffs across DST, overrides, custom lengths, next handoffs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from signalcraft_policies.oncall import InvalidSchedule, check_schedule, handoff, next_handoffs, on_call
from signalcraft_schemas.events import ScheduleOverride, ScheduleSaved

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
A, B, C = "<@UALICE>", "<@UBOB>", "<@UCAROL>"
DAY, WEEK = 86400, 7 * 86400


def rotation(zone: str = "Europe/Berlin", start: date = date(2026, 3, 27), at: time = time(9, 0),
             shift: int = DAY, users: list[str] | None = None, overrides: list[ScheduleOverride] | None = None,
             ) -> ScheduleSaved:
    return ScheduleSaved(schedule_id="primary", workspace_id="ws-1", name="Primary", users=users or [A, B, C],
                         time_zone=zone, start_date=start, handoff_time=at, shift_seconds=shift,
                         overrides=overrides or [])


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_a_daily_0900_handoff_stays_0900_in_berlin_across_the_spring_change():
    # DST begins in Berlin on Sunday 2026-03-29 at 02:00 (clocks go to 03:00).
    s = rotation()
    starts = [handoff(s, n).astimezone(BERLIN) for n in range(4)]
    assert [(d.day, d.hour, d.minute) for d in starts] == [(27, 9, 0), (28, 9, 0), (29, 9, 0), (30, 9, 0)]
    # So the shift that spans the change is 23 hours long.
    assert handoff(s, 2) - handoff(s, 1) == timedelta(hours=23)
    current = on_call(s, local(BERLIN, 2026, 3, 29, 8, 59))
    assert (current.user, current.since, current.until) == (B, handoff(s, 1), handoff(s, 2))
    assert on_call(s, local(BERLIN, 2026, 3, 29, 9, 0)).user == C


def test_a_daily_0900_handoff_stays_0900_in_berlin_across_the_autumn_change():
    # DST ends in Berlin on Sunday 2026-10-25 at 03:00 (clocks go back to 02:00): a 25-hour shift.
    s = rotation(start=date(2026, 10, 23))
    assert [handoff(s, n).astimezone(BERLIN).hour for n in range(4)] == [9, 9, 9, 9]
    assert handoff(s, 2) - handoff(s, 1) == timedelta(hours=25)
    assert on_call(s, local(BERLIN, 2026, 10, 25, 8, 30)).user == B
    assert on_call(s, local(BERLIN, 2026, 10, 25, 9, 0)).user == C


def test_a_weekly_handoff_in_new_york_keeps_its_local_time_across_both_changes():
    # New York: DST begins 2026-03-08 and ends 2026-11-01, both on Sundays at 02:00.
    s = rotation(zone="America/New_York", start=date(2026, 3, 2), at=time(10, 0), shift=WEEK, users=[A, B])
    assert handoff(s, 1).astimezone(NEW_YORK) == local(NEW_YORK, 2026, 3, 9, 10, 0)
    assert handoff(s, 1) - handoff(s, 0) == timedelta(days=7, hours=-1)
    autumn = rotation(zone="America/New_York", start=date(2026, 10, 26), at=time(10, 0), shift=WEEK, users=[A, B])
    assert handoff(autumn, 1) - handoff(autumn, 0) == timedelta(days=7, hours=1)
    assert on_call(autumn, local(NEW_YORK, 2026, 11, 2, 9, 59)).user == A
    assert on_call(autumn, local(NEW_YORK, 2026, 11, 2, 10, 0)).user == B


def test_a_handoff_inside_the_spring_gap_is_read_with_the_offset_before_it():
    # 02:30 does not exist in Berlin on 2026-03-29: it is 03:30 CEST (01:30 UTC).
    s = rotation(at=time(2, 30))
    assert handoff(s, 2) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert handoff(s, 3).astimezone(BERLIN).hour == 2


def test_custom_twelve_hour_shifts_stay_on_the_local_clock():
    s = rotation(at=time(8, 0), shift=12 * 3600, users=[A, B])
    local_hours = [handoff(s, n).astimezone(BERLIN).hour for n in range(8)]
    assert local_hours == [8, 20, 8, 20, 8, 20, 8, 20]
    assert on_call(s, local(BERLIN, 2026, 3, 29, 12, 0)).user == A  # shift 4


def test_custom_lengths_that_are_not_a_day_fraction():
    s = rotation(start=date(2026, 1, 1), at=time(0, 0), shift=36 * 3600, users=[A, B, C], zone="UTC")
    assert on_call(s, datetime(2026, 1, 2, 11, 59, tzinfo=UTC)).user == A
    assert on_call(s, datetime(2026, 1, 2, 12, 0, tzinfo=UTC)).user == B
    assert on_call(s, datetime(2026, 1, 5, 12, 0, tzinfo=UTC)).user == A  # shift 3 wraps


def test_nobody_is_on_call_before_the_first_shift():
    s = rotation()
    before = on_call(s, local(BERLIN, 2026, 3, 27, 8, 0))
    assert before.user is None and before.until == handoff(s, 0)


def test_an_override_overlapping_a_handoff_wins_and_clips_the_shifts_around_it():
    # Carol covers 2026-03-28 07:00-11:00 Berlin, across the Alice -> Bob handoff at 09:00.
    cover = ScheduleOverride(user=C, start=local(BERLIN, 2026, 3, 28, 7, 0), end=local(BERLIN, 2026, 3, 28, 11, 0))
    s = rotation(overrides=[cover])
    during = on_call(s, local(BERLIN, 2026, 3, 28, 9, 30))
    assert (during.user, during.since, during.until, during.override) == (C, cover.start, cover.end, True)
    before = on_call(s, local(BERLIN, 2026, 3, 28, 6, 0))
    assert (before.user, before.since, before.until) == (A, handoff(s, 0), cover.start)
    after = on_call(s, local(BERLIN, 2026, 3, 28, 12, 0))
    assert (after.user, after.since, after.until) == (B, cover.end, handoff(s, 2))


def test_of_two_overlapping_overrides_the_later_listed_wins():
    first = ScheduleOverride(user=B, start=local(BERLIN, 2026, 3, 27, 10, 0), end=local(BERLIN, 2026, 3, 27, 18, 0))
    second = ScheduleOverride(user=C, start=local(BERLIN, 2026, 3, 27, 12, 0), end=local(BERLIN, 2026, 3, 27, 14, 0))
    s = rotation(overrides=[first, second])
    assert on_call(s, local(BERLIN, 2026, 3, 27, 11, 0)).user == B
    inner = on_call(s, local(BERLIN, 2026, 3, 27, 13, 0))
    assert (inner.user, inner.since, inner.until) == (C, second.start, second.end)
    tail = on_call(s, local(BERLIN, 2026, 3, 27, 15, 0))
    assert (tail.user, tail.since, tail.until) == (B, second.end, first.end)


def test_next_handoffs_list_each_change_of_person_with_overrides():
    cover = ScheduleOverride(user=C, start=local(BERLIN, 2026, 3, 28, 7, 0), end=local(BERLIN, 2026, 3, 28, 11, 0))
    s = rotation(overrides=[cover])
    upcoming = next_handoffs(s, local(BERLIN, 2026, 3, 27, 12, 0), 4)
    assert [(h.at.astimezone(BERLIN).strftime("%d %H:%M"), h.user, h.override) for h in upcoming] == [
        ("28 07:00", C, True), ("28 11:00", B, False), ("29 09:00", C, False), ("30 09:00", A, False)]


def test_a_rotation_of_one_never_hands_off_to_itself():
    s = rotation(users=[A])
    assert next_handoffs(s, local(BERLIN, 2026, 3, 28, 0, 0), 3) == []


@pytest.mark.parametrize("change", [
    {"time_zone": "Mars/Olympus"}, {"users": ["alice"]}, {"shift_seconds": 400 * DAY},
    {"overrides": [ScheduleOverride(user=A, start=datetime(2026, 1, 2, tzinfo=UTC), end=datetime(2026, 1, 1, tzinfo=UTC))]},
])
def test_unusable_schedules_are_refused(change: dict[str, object]):
    with pytest.raises(InvalidSchedule):
        check_schedule(rotation().model_copy(update=change))
