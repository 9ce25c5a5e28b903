"""Alertmanager-style matchers: `name op "value"`, op one of `=`, `!=`, `=~`, `!~`.

As in Alertmanager, a regex is anchored at both ends (`=~"high|crit"` does not match "very high")
and a missing label reads as the empty string (`team!="db"` holds for an alert without `team`).
A name is one of the routing fields (environment, severity, project, source, fingerprint, title),
`tag.<key>` for a tag, or a bare tag key (Alertmanager's labels are our tags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

FIELDS = ("environment", "severity", "project", "source", "fingerprint", "title")
TAG_PREFIX = "tag."

_NAME = r"[A-Za-z_][A-Za-z0-9_.\-/]*"
_MATCHER = re.compile(rf"^\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$", re.DOTALL)


class Operator(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class InvalidMatcher(ValueError):
    """A matcher that cannot be parsed or whose regex does not compile; the message names it."""


@dataclass(frozen=True)
class Matcher:
    name: str
    operator: Operator
    value: str
    pattern: re.Pattern[str] | None = None  # the compiled regex of =~ and !~

    @property
    def field(self) -> str:
        """The routing field it reads: a field name, or `tag.<key>`."""
        return self.name if self.name in FIELDS or self.name.startswith(TAG_PREFIX) else TAG_PREFIX + self.name

    def read(self, fields: Mapping[str, str], tags: Mapping[str, str]) -> str:
        field = self.field
        return tags.get(field[len(TAG_PREFIX):], "") if field.startswith(TAG_PREFIX) else fields.get(field, "")

    def holds(self, actual: str) -> bool:
        if self.operator == Operator.EQUAL:
            return actual == self.value
        if self.operator == Operator.NOT_EQUAL:
            return actual != self.value
        assert self.pattern is not None
        found = self.pattern.fullmatch(actual) is not None  # anchored, as Alertmanager's
        return found if self.operator == Operator.REGEX else not found

    def __str__(self) -> str:
        return f'{self.name}{self.operator.value}"{_escape(self.value)}"'


@lru_cache(maxsize=4096)  # a rule's matchers are parsed for every group routed: parse (and compile) once
def parse_matcher(text: str) -> Matcher:
    """`severity=~"high|critical"`, `team!=db`, `tag.region=~'eu-.*'`; raises InvalidMatcher."""
    found = _MATCHER.match(text)
    if found is None:
        raise InvalidMatcher(f"matcher {text!r}: expected <field or tag><op><value> with op one of =, !=, =~, !~")
    name, operator, value = found["name"], Operator(found["op"]), _unquote(found["value"], text)
    if name.startswith(TAG_PREFIX) and len(name) == len(TAG_PREFIX):
        raise InvalidMatcher(f"matcher {text!r}: tag. needs a key, e.g. tag.team")
    pattern = None
    if operator in (Operator.REGEX, Operator.NOT_REGEX):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise InvalidMatcher(f"matcher {text!r}: invalid regex {value!r}: {exc}") from None
    return Matcher(name, operator, value, pattern)


def _unquote(raw: str, text: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        if re.search(r'(?<!\\)(?:\\\\)*' + re.escape(raw[0]), inner):
            raise InvalidMatcher(f"matcher {text!r}: unescaped {raw[0]} inside the quoted value")
        # Only \\ and an escaped quote are escapes: a regex keeps its own (\d, \.) as written.
        return re.sub(r"\\([\\\"'])", r"\1", inner)
    if raw[:1] in "\"'" or raw[-1:] in "\"'":
        raise InvalidMatcher(f"matcher {text!r}: unbalanced quotes in the value")
    return raw


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
