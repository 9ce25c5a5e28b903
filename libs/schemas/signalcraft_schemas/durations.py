"""Durations a person types: "90s", "15m", "4h", "1d", "1h30m", ISO 8601 ("PT15M", "P1D"), or a plain number.

One parser for the config API, the CLI and the command API (issue 9.7), so that every duration a person
sets accepts seconds resolution. A plain number keeps the unit of the field it was written for (minutes
for the existing *_minutes fields), so old clients keep working. ISO 8601 is parsed by pydantic.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, WithJsonSchema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT = re.compile(r"(?:(\d+)\s*([smhdw]))+?", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*(?:\d+\s*[smhdw]\s*)+$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_ISO = TypeAdapter(timedelta)

BareUnit = Literal["seconds", "minutes"]


class InvalidDuration(ValueError):
    pass


def parse_duration(value: str | int | float | timedelta, *, bare_unit: BareUnit = "minutes") -> timedelta:
    """The duration `value` names; a positive timedelta, or InvalidDuration saying what is accepted."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, bool):
        raise InvalidDuration(f"not a duration: {value!r}")
    elif isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        duration = _timedelta(value, **{bare_unit: float(value)})
    elif isinstance(value, str) and _WHOLE.match(value):
        duration = _timedelta(value, seconds=sum(int(n) * _UNITS[u.lower()] for n, u in _COMPACT.findall(value)))
    elif isinstance(value, str) and value.strip().upper().startswith("P"):
        try:
            duration = _ISO.validate_python(value.strip().upper())
        except ValidationError:
            raise InvalidDuration(f"not an ISO 8601 duration: {value!r}") from None
    else:
        raise InvalidDuration(f"not a duration: {value!r}; use e.g. 90s, 15m, 4h, 1d or ISO 8601 (PT15M)")
    if duration <= timedelta(0):
        raise InvalidDuration(f"a duration must be positive, got {value!r}")
    return duration


def _timedelta(value: object, **amount: float) -> timedelta:
    """timedelta(**amount); InvalidDuration (a 422 in a model) past what timedelta holds (999,999,999
    days), where timedelta raises OverflowError, which validation does not catch (a 500)."""
    try:
        return timedelta(**amount)
    except (OverflowError, ValueError):
        raise InvalidDuration(f"not a duration timedelta can hold: {str(value)[:40]!r}") from None


def duration_seconds(value: str | int | float | timedelta, *, bare_unit: BareUnit = "minutes") -> int:
    """`parse_duration` in whole seconds (rounded up, so "0.5s" is not zero)."""
    duration = parse_duration(value, bare_unit=bare_unit)
    return max(1, -(-int(duration.total_seconds() * 1_000_000) // 1_000_000))


def format_duration(seconds: int) -> str:
    """The shortest compact spelling: 90 -> "90s", 900 -> "15m", 5400 -> "90m", 14400 -> "4h"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _seconds(value: Any) -> int:
    return duration_seconds(value, bare_unit="seconds")


# A duration field of an API model: "90s", "15m", "4h", "1d", ISO 8601 or a number of seconds, stored as
# whole seconds (the *_seconds fields of the config events, a snooze's length).
DurationSeconds = Annotated[
    int, BeforeValidator(_seconds), Field(ge=1),
    WithJsonSchema({"anyOf": [{"type": "string", "examples": ["90s", "15m", "4h", "PT15M"]}, {"type": "integer"}],
                    "description": "A duration: 90s, 15m, 4h, 1d, ISO 8601 (PT15M), or seconds"}),
]
