"""An Alertmanager `route:` tree as ordered routing rules (`signalcraft rule import`).

Alertmanager walks the tree depth-first: an alert goes to the first child that matches (and on to
the following siblings when that child says `continue`); a node whose children all fail to match
handles the alert itself. As a flat, ordered rule list that is post-order: each child's rules
(its conditions include every ancestor's) before its parent's own rule, which is thus the
fallback. A route without a receiver inherits its parent's. Labels become tag matchers (our
Alertmanager integration keeps every label as a tag); a label named like one of our fields
(severity, environment...) is written `tag.<label>` so it still reads the label.

What flat rules cannot say, and what SignalCraft does not do per route (grouping and timing
options, mute/active time intervals, inhibition, receivers' own integrations), is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from signalcraft_policies.matchers import FIELDS, InvalidMatcher, parse_matcher

TIMING_AND_GROUPING = ("group_by", "group_wait", "group_interval", "repeat_interval")
TIME_INTERVALS = ("mute_time_intervals", "active_time_intervals")
KNOWN_ROUTE_KEYS = {"receiver", "routes", "match", "match_re", "matchers", "continue", *TIMING_AND_GROUPING,
                    *TIME_INTERVALS}
TOP_LEVEL_IGNORED = {
    "global": "receivers' SMTP/HTTP settings: Slack is SignalCraft's only channel",
    "templates": "message templates: SignalCraft renders its own Slack messages",
    "inhibit_rules": "inhibition has no equivalent",
    "receivers": "receivers' own integrations are not used; receivers are mapped to channels by name",
    "time_intervals": "time intervals have no equivalent",
    "mute_time_intervals": "time intervals have no equivalent",
}


class InvalidConfig(ValueError):
    """Not an Alertmanager configuration with a `route:` tree, or a mapping file we cannot read."""


@dataclass(frozen=True)
class ImportedRule:
    """One rule to create: the API's rule body, and where in the tree it came from."""

    path: str  # e.g. "route.routes[2].routes[0]"
    receiver: str
    body: dict[str, Any]


@dataclass
class ImportPlan:
    rules: list[ImportedRule] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Receiver:
    channel: str
    mention: str | None = None


def read_receivers(mapping: Any) -> dict[str, Receiver]:
    """`{receiver: "#channel"}` or `{receiver: {channel: "#c", mention: "usergroup:S1"}}`, at the top
    level or under `receivers:`."""
    if isinstance(mapping, Mapping) and isinstance(mapping.get("receivers"), Mapping):
        mapping = mapping["receivers"]
    if not isinstance(mapping, Mapping):
        raise InvalidConfig("the receivers mapping must map receiver names to channels, e.g. team-X-pager: '#team-x'")
    found: dict[str, Receiver] = {}
    for name, target in mapping.items():
        if isinstance(target, str) and target.strip():
            found[str(name)] = Receiver(target.strip())
        elif isinstance(target, Mapping) and isinstance(target.get("channel"), str):
            found[str(name)] = Receiver(target["channel"], target.get("mention"))
        else:
            raise InvalidConfig(f"receiver {name!r}: map it to a channel ('#name' or a channel id)")
    return found


def _label(name: str) -> str:
    return f"tag.{name}" if name in FIELDS else name


def _quoted(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _matchers(route: Mapping[str, Any], path: str, plan: ImportPlan) -> list[str]:
    """The route's own conditions as our matchers (legacy match/match_re and `matchers:`)."""
    found = [f"{_label(str(k))}={_quoted(v)}" for k, v in (route.get("match") or {}).items()]
    found += [f"{_label(str(k))}=~{_quoted(v)}" for k, v in (route.get("match_re") or {}).items()]
    for text in _matcher_texts(route.get("matchers") or []):
        try:
            parsed = parse_matcher(text)
        except InvalidMatcher as exc:
            plan.untranslated.append(f"{path}: matcher not translated ({exc}); its rules are left out")
            raise
        found.append(f"{_label(parsed.name)}{parsed.operator.value}{_quoted(parsed.value)}")
    return found


def _matcher_texts(matchers: Any) -> list[str]:
    """Alertmanager accepts a list of matchers, each maybe `{a="b", c=~"d"}` (braces, commas)."""
    texts: list[str] = []
    for item in matchers if isinstance(matchers, list) else [matchers]:
        text = str(item).strip()
        if text.startswith("{") and text.endswith("}"):
            texts += [part for part in _split_commas(text[1:-1]) if part.strip()]
        else:
            texts.append(text)
    return texts


def _split_commas(text: str) -> list[str]:
    parts, current, quote, escaped = [], "", "", False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif quote:
            current, quote = current + char, "" if char == quote else quote
        elif char in "\"'":
            current, quote = current + char, char
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


@dataclass(frozen=True)
class _Walk:
    workspace_id: str
    receivers: Mapping[str, Receiver]
    first_position: int
    step: int


def translate(config: Any, receivers: Mapping[str, Receiver], workspace_id: str, first_position: int = 1000,
              step: int = 10) -> ImportPlan:
    """The rules (in order) for the config's route tree, and what could not be translated."""
    if not isinstance(config, Mapping) or not isinstance(config.get("route"), Mapping):
        raise InvalidConfig("no `route:` tree: is this an Alertmanager configuration file?")
    plan = ImportPlan()
    for key, why in TOP_LEVEL_IGNORED.items():
        if config.get(key):
            plan.untranslated.append(f"{key}: not translated ({why})")
    walk = _Walk(workspace_id, receivers, first_position, step)
    root = config["route"]
    _report_options(root, "route", plan)
    for index, child in enumerate(root.get("routes") or []):
        _visit(child, f"route.routes[{index}]", [], root.get("receiver"), False, walk, plan)
    if root.get("receiver"):
        _add_rule(walk, plan, "route", str(root["receiver"]), [], False, "the root route: every alert no other rule took")
    unmapped = sorted({r.receiver for r in plan.rules if r.receiver not in receivers})
    for name in unmapped:
        plan.untranslated.append(f"receiver {name!r}: not in the receivers mapping; its rules are left out")
    plan.rules = [r for r in plan.rules if r.receiver in receivers]
    for position, rule in enumerate(plan.rules):
        rule.body["position"] = first_position + position * step
    return plan


def _report_options(route: Mapping[str, Any], path: str, plan: ImportPlan) -> None:
    for key in (*TIMING_AND_GROUPING, *TIME_INTERVALS):
        if route.get(key):
            why = ("time intervals have no equivalent" if key in TIME_INTERVALS
                   else "grouping and its timing are per workspace (dedup window), not per route")
            plan.untranslated.append(f"{path}.{key}: {route[key]!r} not translated ({why})")
    for key in sorted(set(route) - KNOWN_ROUTE_KEYS):
        plan.untranslated.append(f"{path}.{key}: unknown route option, not translated")


def _visit(route: Any, path: str, inherited: list[str], parent_receiver: Any, ancestor_continues: bool,
           walk: _Walk, plan: ImportPlan) -> None:
    if not isinstance(route, Mapping):
        plan.untranslated.append(f"{path}: not a route (a mapping expected)")
        return
    _report_options(route, path, plan)
    try:
        conditions = inherited + _matchers(route, path, plan)
    except InvalidMatcher:
        return
    receiver = route.get("receiver") or parent_receiver
    continues = bool(route.get("continue", False))
    children = route.get("routes") or []
    if children and (continues or ancestor_continues):
        plan.untranslated.append(
            f"{path}: continue with child routes is approximated: a matching child also lets later rules route "
            "the alert (Alertmanager would stop within this route's children)")
    if receiver and any(isinstance(c, Mapping) and c.get("continue") for c in children):
        plan.untranslated.append(
            f"{path}: a child route with continue is approximated: this route's own receiver also gets the alerts "
            "that child took (Alertmanager would not)")
    for index, child in enumerate(children):
        _visit(child, f"{path}.routes[{index}]", conditions, receiver, continues or ancestor_continues, walk, plan)
    if not receiver:
        plan.untranslated.append(f"{path}: no receiver (nor an inherited one); left out")
        return
    _add_rule(walk, plan, path, str(receiver), conditions, continues or ancestor_continues,
              "fallback of its child routes" if children else "")


def _add_rule(walk: _Walk, plan: ImportPlan, path: str, receiver: str, matchers: list[str], continues: bool,
              note: str) -> None:
    target = walk.receivers.get(receiver)
    name = f"alertmanager {path} -> {receiver}" + (f" ({note})" if note else "")
    body: dict[str, Any] = {"workspace_id": walk.workspace_id, "name": name[:200],
                            "channel": target.channel if target else "", "conditions": {"matchers": matchers},
                            "continue": continues}
    if target and target.mention:
        body["mention"] = target.mention
    plan.rules.append(ImportedRule(path, receiver, body))
