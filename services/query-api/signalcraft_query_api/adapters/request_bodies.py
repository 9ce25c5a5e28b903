"""What every JSON body of the API must be before a handler sees it: text PostgreSQL can store.

A NUL (PostgreSQL's text and JSONB refuse it) or a lone surrogate (not encodable as UTF-8) anywhere
in a body, in a value or in a key, is refused with a 422 naming where it is, instead of failing as a
500 on the way into the database. Numbers are bounded by each field; see `Position`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_WHERE_CHARS = 200
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

# Rules are ordered by position; far beyond any real list, and within the 64-bit integers an event holds.
Position = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
# A token or secret that travels in an HTTP header (a Slack bot token, a bearer secret): printable ASCII
# without spaces. A vertical tab in a bot token was stored, and every Slack call then failed in the
# HTTP client ("connection_error:ValueError") instead of the API refusing it.
Credential = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


def unstorable_text_at(value: Any) -> str | None:
    """Where in `value` a string (or key) holds a NUL or a lone surrogate, else None. Iterative: a
    body may nest deeper than Python's recursion limit."""
    pending: list[tuple[str, Any]] = [("body", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            pending += [(f"{where} key"[:_WHERE_CHARS], key) for key in item]
            pending += [(f"{where}.{key}"[:_WHERE_CHARS], child) for key, child in item.items()]
        elif isinstance(item, list):
            pending += [(f"{where}[{index}]"[:_WHERE_CHARS], child) for index, child in enumerate(item)]
    return None


class RequestBody(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        where = unstorable_text_at(data)
        if where is not None:
            raise ValueError(f"{where.encode('utf-8', 'replace').decode()} contains a NUL character or a "
                             "lone surrogate, which cannot be stored")
        return data


def _storable_time(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not _EARLIEST <= utc <= _LATEST:
        raise ValueError("must lie between 1970-01-01 and 9999-12-31T23:59:59 UTC")
    return value


# A time the database stores and gives back: `9999-12-31T23:59:59-23:59` is year 10000 in UTC.
StorableTime = Annotated[datetime, AfterValidator(_storable_time)]
