"""Time is an input to domain code; services take it from here."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
