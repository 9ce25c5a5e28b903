"""Routing rules: which rules take an alert or a group, where it goes, and why.

Rules are evaluated by ascending position (then id). A rule matches when every condition it sets
holds: environment in its list, severity at least its minimum, project in its list, source in its
list, every tag key present, every tag key=value, every Alertmanager-style matcher. A match stops
the evaluation unless the rule says `continue_matching` (Alertmanager's `continue`); the group then
goes to every matching rule's channel (one message per channel: the first rule for a channel wins).
Nothing matched: the workspace's default channel.

`explain` gives, per rule in order, its verdict: matched (and whether it routes), or the FIRST
condition that failed, with what was expected and what the subject had.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import quote, urlsplit

from signalcraft_schemas import Severity
from signalcraft_schemas.events import LinkButton, QuickAction, RoutingConditions, RoutingRuleSaved

from .matchers import InvalidMatcher, Matcher, parse_matcher

__all__ = ["InvalidMatcher", "InvalidRule", "Failure", "Verdict", "RuleRoute", "Mention", "RoutingSubject",
           "first_failure", "matches", "routes", "explain", "mention_for", "fill_quick_actions", "validate_rule",
           "ordered"]

HERE_SEVERITIES = {Severity.HIGH, Severity.CRITICAL}
MENTION_NONE, MENTION_HERE_FOR_HIGH, MENTION_USERGROUP = "none", "here_for_high", "usergroup:"
_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TEMPLATE_FIELDS = ("group_id", "project", "environment", "source", "fingerprint", "title")


class RoutingSubject(Protocol):
    """What rules look at: an alert group (GroupSnapshot) or a single alert (NormalizedAlert)."""

    @property
    def source(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def environment(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...


class InvalidRule(ValueError):
    """A rule that cannot be saved (422): a bad matcher, mention policy or quick-action URL."""


@dataclass(frozen=True)
class Failure:
    """The first condition of a rule that did not hold."""

    field: str  # environment, severity, project, source, tag.<key>, or the matcher's field
    operator: str  # in, >=, exists, =, !=, =~, !~
    expected: str
    actual: str | None  # None: the tag is absent


@dataclass(frozen=True)
class Verdict:
    rule_id: str
    name: str
    position: int
    enabled: bool
    matched: bool  # every condition holds (and the rule is enabled)
    routed: bool  # it gives the subject a route (matched, and no earlier match stopped evaluation)
    continue_matching: bool
    failed: Failure | None = None  # the first failing condition, when not matched
    stopped_by: str | None = None  # matched, but an earlier match (this rule id) had stopped evaluation


@dataclass(frozen=True)
class Mention:
    here: bool = False
    usergroup: str | None = None  # S...: rendered <!subteam^S...>


@dataclass(frozen=True)
class RuleRoute:
    """Where a matching rule (or the default channel: rule None) sends the subject, and how."""

    channel: str
    rule: RoutingRuleSaved | None

    @property
    def rule_id(self) -> str | None:
        return self.rule.rule_id if self.rule else None

    @property
    def runbook_url(self) -> str | None:
        return self.rule.runbook_url if self.rule else None

    @property
    def escalate_after(self) -> timedelta | None:
        return self.rule.escalate_after if self.rule else None

    @property
    def quick_actions(self) -> tuple[QuickAction, ...]:
        return tuple(self.rule.quick_actions) if self.rule else ()


def ordered(rules: Sequence[RoutingRuleSaved]) -> list[RoutingRuleSaved]:
    return sorted(rules, key=lambda r: (r.position, r.rule_id))


def _fields(subject: RoutingSubject) -> dict[str, str]:
    return {"environment": subject.environment, "severity": str(Severity(subject.severity)),
            "project": subject.project, "source": subject.source, "fingerprint": subject.fingerprint,
            "title": subject.title}


def _any_of(values: Sequence[str]) -> str:
    return ", ".join(values)


def first_failure(conditions: RoutingConditions, subject: RoutingSubject) -> Failure | None:
    """The first condition (in the order they are listed above) that does not hold; None: all hold."""
    if conditions.environments and subject.environment not in {e.lower() for e in conditions.environments}:
        return Failure("environment", "in", _any_of(conditions.environments), subject.environment)
    severity = Severity(subject.severity)
    if conditions.min_severity is not None and not severity.at_least(conditions.min_severity):
        return Failure("severity", ">=", str(conditions.min_severity), str(severity))
    if conditions.projects and subject.project not in conditions.projects:
        return Failure("project", "in", _any_of(conditions.projects), subject.project)
    if conditions.sources and subject.source not in conditions.sources:
        return Failure("source", "in", _any_of(conditions.sources), subject.source)
    for key in conditions.tag_keys:
        if key not in subject.tags:
            return Failure(f"tag.{key}", "exists", "present", None)
    for key, value in conditions.tags.items():
        if subject.tags.get(key) != value:
            return Failure(f"tag.{key}", "=", value, subject.tags.get(key))
    fields = _fields(subject)
    for matcher in compiled_matchers(conditions):
        actual = matcher.read(fields, subject.tags)
        if not matcher.holds(actual):
            return Failure(matcher.field, matcher.operator.value, matcher.value, actual)
    return None


def compiled_matchers(conditions: RoutingConditions) -> list[Matcher]:
    return [parse_matcher(text) for text in conditions.matchers]


def matches(conditions: RoutingConditions, subject: RoutingSubject) -> bool:
    try:
        return first_failure(conditions, subject) is None
    except InvalidMatcher:  # validated when saved; a rule saved before validation existed matches nothing
        return False


def explain(rules: Sequence[RoutingRuleSaved], subject: RoutingSubject) -> list[Verdict]:
    """Every rule in evaluation order, with its verdict for the subject."""
    verdicts: list[Verdict] = []
    stopped_by: str | None = None
    for rule in ordered(rules):
        try:
            failed = first_failure(rule.conditions, subject) if rule.enabled else None
        except InvalidMatcher as exc:
            failed = Failure("matchers", "parse", str(exc), None)
        matched = rule.enabled and failed is None
        verdicts.append(Verdict(rule.rule_id, rule.name, rule.position, rule.enabled, matched,
                                routed=matched and stopped_by is None, continue_matching=rule.continue_matching,
                                failed=failed, stopped_by=stopped_by if matched else None))
        if matched and stopped_by is None and not rule.continue_matching:
            stopped_by = rule.rule_id
    return verdicts


def routes(subject: RoutingSubject, rules: Sequence[RoutingRuleSaved], default_channel: str | None) -> list[RuleRoute]:
    """Every route of the subject in order: each routing rule's channel (the first rule naming a
    channel wins it), else the default channel, else none."""
    by_id = {rule.rule_id: rule for rule in rules}
    chosen: dict[str, RuleRoute] = {}
    for verdict in explain(rules, subject):
        rule = by_id[verdict.rule_id]
        if verdict.routed and rule.channel not in chosen:
            chosen[rule.channel] = RuleRoute(rule.channel, rule)
    if chosen:
        return list(chosen.values())
    return [RuleRoute(default_channel, None)] if default_channel else []


def mention_for(policy: str, severity: Severity) -> Mention:
    """`none`; `here_for_high` (@here for high and critical, the default); `usergroup:S...` (always)."""
    if policy.startswith(MENTION_USERGROUP):
        return Mention(usergroup=policy[len(MENTION_USERGROUP):])
    if policy == MENTION_NONE:
        return Mention()
    return Mention(here=Severity(severity) in HERE_SEVERITIES)


def _template_values(subject: RoutingSubject, group_id: str | None) -> dict[str, str]:
    values = {"group_id": group_id or "", **{k: v for k, v in _fields(subject).items() if k != "severity"}}
    values.update({f"tag.{key}": value for key, value in subject.tags.items()})
    return values


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Each {placeholder} replaced by its value, URL-encoded (an unknown tag: empty)."""
    return _PLACEHOLDER.sub(lambda m: quote(values.get(m[1], ""), safe=""), template)


def fill_quick_actions(actions: Sequence[QuickAction], subject: RoutingSubject,
                       group_id: str | None = None) -> list[LinkButton]:
    values = _template_values(subject, group_id)
    return [LinkButton(label=a.label, url=fill_template(a.url_template, values)) for a in actions]


def _check_placeholder(name: str, template: str) -> None:
    if name not in TEMPLATE_FIELDS and not (name.startswith("tag.") and len(name) > len("tag.")):
        raise InvalidRule(f"quick action URL {template!r}: unknown placeholder {{{name}}}; use one of "
                          + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS) + ", {tag.<key>}")


def check_url(url: str, what: str) -> None:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)
    except ValueError:
        valid = False
    if not valid:
        raise InvalidRule(f"{what} {url!r}: not an http(s) URL with a host")


def validate_rule(conditions: RoutingConditions, mention: str, quick_actions: Sequence[QuickAction],
                  runbook_url: str | None = None) -> None:
    """Raises InvalidRule naming what cannot be saved."""
    for text in conditions.matchers:
        try:
            parse_matcher(text)
        except InvalidMatcher as exc:
            raise InvalidRule(str(exc)) from None
    if mention not in (MENTION_NONE, MENTION_HERE_FOR_HIGH) and not (
            mention.startswith(MENTION_USERGROUP) and _USERGROUP_ID.match(mention[len(MENTION_USERGROUP):])):
        raise InvalidRule(f"mention {mention!r}: use none, here_for_high or usergroup:<S...> (a Slack user group id)")
    for action in quick_actions:
        names = _PLACEHOLDER.findall(action.url_template)
        for name in names:
            _check_placeholder(name, action.url_template)
        if "{" in _PLACEHOLDER.sub("", action.url_template) or "}" in _PLACEHOLDER.sub("", action.url_template):
            raise InvalidRule(f"quick action URL {action.url_template!r}: unbalanced braces")
        # The URL as it will be once filled (sample values; real ones are URL-encoded, so a value cannot
        # bring its own "://" or "/"): the scheme is the template's own.
        check_url(fill_template(action.url_template, {n: "x" for n in names}), f"quick action {action.label!r} URL")
    if runbook_url:
        check_url(runbook_url, "runbook URL")
