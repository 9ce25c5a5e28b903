"""Alertmanager-style matchers: each operator, anchoring, a missing label, quoting, and the errors
that name the bad matcher."""

from __future__ import annotations

import pytest

from signalcraft_policies.matchers import InvalidMatcher, Operator, parse_matcher

FIELDS = {"environment": "prod", "severity": "high", "project": "checkout", "source": "alertmanager",
          "fingerprint": "fp", "title": "Disk full"}
TAGS = {"team": "payments", "region": "eu-west-1", "severity": "warning"}


def holds(text: str) -> bool:
    matcher = parse_matcher(text)
    return matcher.holds(matcher.read(FIELDS, TAGS))


@pytest.mark.parametrize("text, expected", [
    ('environment="prod"', True), ('environment="staging"', False),
    ('environment!="staging"', True), ('environment!="prod"', False),
    ('severity=~"high|critical"', True), ('severity=~"crit.*"', False),
    ('severity!~"info|low"', True), ('severity!~"hi.*"', False),
    ('project=~"check"', False),  # anchored: a part of the value is not a match
    ('project=~".*check.*"', True),
    ("team=payments", True), ("team != 'db'", True),  # bare and single-quoted values
    ('tag.region=~"eu-.*"', True), ('region=~"us-.*"', False),  # a tag by its key, with or without tag.
    ('tag.severity="warning"', True),  # the label, not our severity field
    ('owner=""', True), ('owner!="team-x"', True), ('owner=~".+"', False),  # a missing tag reads as ""
])
def test_each_operator(text: str, expected: bool):
    assert holds(text) is expected


def test_the_parts_and_the_field_read():
    matcher = parse_matcher('service=~"^(foo1|foo2|baz)$"')
    assert (matcher.name, matcher.operator, matcher.value, matcher.field) == (
        "service", Operator.REGEX, "^(foo1|foo2|baz)$", "tag.service")
    assert parse_matcher('severity="high"').field == "severity"
    assert str(parse_matcher('title="say \\"hi\\""')) == 'title="say \\"hi\\""'
    assert parse_matcher(r'title=~"\d+ errors"').value == r"\d+ errors"  # a regex keeps its own escapes


@pytest.mark.parametrize("text, says", [
    ("severity", "expected <field or tag><op><value>"),
    ('=~"x"', "expected <field or tag><op><value>"),
    ('severity=~"(high"', "invalid regex"),
    ('team="a', "unbalanced quotes"),
    ('team="a"b"', "unescaped"),
    ('tag.="x"', "tag. needs a key"),
])
def test_a_bad_matcher_is_refused_naming_it(text: str, says: str):
    with pytest.raises(InvalidMatcher) as refused:
        parse_matcher(text)
    assert says in str(refused.value) and repr(text) in str(refused.value)
