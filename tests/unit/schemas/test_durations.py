from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalcraft_schemas.durations import InvalidDuration, duration_seconds, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("4h", 14400), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), (" 2H ", 7200),
    ("PT15M", 900), ("pt90s", 90), ("P1D", 86400), ("PT1H30M", 5400),
])
def test_compact_and_iso_spellings(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_plain_number_keeps_the_unit_of_the_field_it_was_written_for():
    assert parse_duration(15) == timedelta(minutes=15)
    assert parse_duration("15") == timedelta(minutes=15)
    assert parse_duration(90, bare_unit="seconds") == timedelta(seconds=90)
    assert parse_duration(timedelta(hours=1)) == timedelta(hours=1)


@pytest.mark.parametrize("text", ["", "abc", "-5m", "0s", "P", "5x", "PT0S", "1.5h", True, -3, 0])
def test_nonsense_zero_and_negative_are_refused(text):
    with pytest.raises(InvalidDuration):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**7))
def test_formatting_round_trips(seconds):
    assert duration_seconds(format_duration(seconds)) == seconds


def test_format_prefers_the_largest_whole_unit():
    assert [format_duration(s) for s in (90, 900, 5400, 14400, 86400)] == ["90s", "15m", "90m", "4h", "1d"]


def test_an_api_duration_field_takes_text_or_seconds_and_refuses_nonsense():
    from pydantic import BaseModel, ValidationError

    from signalcraft_schemas.durations import DurationSeconds

    class Model(BaseModel):
        window: DurationSeconds

    assert [Model(window=v).window for v in ("90s", "PT15M", "4h", 45)] == [90, 900, 14400, 45]
    with pytest.raises(ValidationError):
        Model(window="soon")
    assert Model.model_json_schema()["properties"]["window"]["anyOf"][1] == {"type": "integer"}
