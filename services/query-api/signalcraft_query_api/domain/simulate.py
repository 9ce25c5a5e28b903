"""What-if (issue 10.6): replay stored alerts through a proposed rule set and count, per channel, the
groups and notifications it would have produced, next to what was actually sent. Nothing is written.

How groups are formed in the replay, as grouping forms them: alerts are taken in the order they were
received; alerts with the same stored group key belong to one group while each arrives within the
workspace's dedup window of the group's previous alert; a longer silence starts a new group. A
resolved group that fires again within the window is the same group (a reopen), as in grouping. Only
firing alerts count; provider signals (acknowledged, resolved...) change no routing.

How it is routed: each group is routed when it opens, with the severity of its first alert, through
`signalcraft_policies.routing.routes` (the router's own function: every matching rule's channel with
`continue`, else the workspace's default channel). When a later alert raises the group's severity
(alerts only raise it), the group is routed again and every channel it did not have gets a first
notification, as the router re-routes a raised group.

What is counted, per channel: `groups`, the distinct groups that reach it; `notifications`, the
top-level messages posted there (one per group and channel: the first notification). Updates of a
message (counts, states) are rewrites, not new messages, and are left out on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from signalcraft_schemas import Severity
from signalcraft_schemas.durations import format_duration

HOW_GROUPS_ARE_FORMED = (
    "Alerts are replayed in the order they were received. Alerts with the same stored group key (source, "
    "project, environment, fingerprint) form one group while each arrives within the workspace's dedup window "
    "({window}) of the group's previous alert; a longer silence starts a new group. Each group is routed when "
    "it opens, with its first alert's severity, and again when a later alert raises its severity (new channels "
    "then get a first notification). Counted per channel: distinct groups, and notifications = top-level "
    "messages (one per group and channel); message rewrites are not counted. Actual figures: the "
    "notifications read model over the same range, first notifications (kind new_group) only.")


@dataclass(frozen=True)
class ReplayedAlert:
    """A stored alert as the replay reads it (query.alerts), in the shape rules look at."""

    group_key: str
    received_at: datetime
    source: str
    project: str
    environment: str
    severity: Severity
    fingerprint: str
    title: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ReplayedGroup:
    """One group the replay formed, standing as its latest alert left it."""

    number: int
    group_key: str
    last_seen_at: datetime
    source: str
    project: str
    environment: str
    severity: Severity
    fingerprint: str
    title: str
    tags: Mapping[str, str]
    channels: list[str] = field(default_factory=list)

    @classmethod
    def opened(cls, number: int, alert: ReplayedAlert) -> "ReplayedGroup":
        return cls(number, alert.group_key, alert.received_at, alert.source, alert.project, alert.environment,
                   Severity(alert.severity), alert.fingerprint, alert.title, dict(alert.tags))


@dataclass(frozen=True)
class ChannelCount:
    groups: int = 0
    notifications: int = 0


@dataclass(frozen=True)
class Simulation:
    alerts: int
    groups: int
    unrouted_groups: int  # no rule and no default channel: the router's visible no_route failure
    rerouted_groups: int  # routed again after a severity rise, reaching a channel they did not have
    per_channel: dict[str, ChannelCount]


# `routes(subject, rules, default_channel)` -> [route with .channel], as signalcraft_policies.routing has it.
RouteFunction = Callable[[Any, Sequence[Any], str | None], Sequence[Any]]


def replay(alerts: Iterable[ReplayedAlert], rules: Sequence[Any], default_channel: str | None,
           dedup_window: timedelta, routes: RouteFunction) -> Simulation:
    """The groups the alerts form and where the proposed rules send them (see the module's doc)."""
    current: dict[str, ReplayedGroup] = {}
    formed: list[ReplayedGroup] = []
    rerouted: set[int] = set()
    count = 0
    for alert in sorted(alerts, key=lambda a: a.received_at):
        count += 1
        group = current.get(alert.group_key)
        if group is None or alert.received_at - group.last_seen_at > dedup_window:
            group = ReplayedGroup.opened(len(formed), alert)
            current[alert.group_key] = group
            formed.append(group)
            group.channels = _channels(group, rules, default_channel, routes)
            continue
        before = group.severity
        _count_in(group, alert)
        if group.severity.rank > before.rank:
            added = [c for c in _channels(group, rules, default_channel, routes) if c not in group.channels]
            if added:
                group.channels += added
                rerouted.add(group.number)
    return Simulation(count, len(formed), sum(1 for g in formed if not g.channels), len(rerouted),
                      _per_channel(formed))


def _count_in(group: ReplayedGroup, alert: ReplayedAlert) -> None:
    group.last_seen_at = max(group.last_seen_at, alert.received_at)
    if Severity(alert.severity).rank > group.severity.rank:
        group.severity = Severity(alert.severity)
    group.title = alert.title or group.title


def _channels(group: ReplayedGroup, rules: Sequence[Any], default_channel: str | None,
              routes: RouteFunction) -> list[str]:
    return [route.channel for route in routes(group, rules, default_channel)]


def _per_channel(groups: list[ReplayedGroup]) -> dict[str, ChannelCount]:
    counts: dict[str, ChannelCount] = {}
    for group in groups:
        for channel in group.channels:  # one top-level message per group and channel
            seen = counts.get(channel, ChannelCount())
            counts[channel] = ChannelCount(seen.groups + 1, seen.notifications + 1)
    return counts


def answer(simulation: Simulation, actual: Mapping[str, ChannelCount], *, since: datetime, until: datetime,
           dedup_window: timedelta, default_channel: str | None) -> dict[str, Any]:
    """The API's answer: per channel, simulated next to actual, channels in name order."""
    channels = sorted(set(simulation.per_channel) | set(actual))
    none = ChannelCount()
    return {
        "since": since, "until": until, "alerts_replayed": simulation.alerts, "groups": simulation.groups,
        "unrouted_groups": simulation.unrouted_groups, "rerouted_groups": simulation.rerouted_groups,
        "default_channel": default_channel, "changed_nothing": True,
        "how_groups_are_formed": HOW_GROUPS_ARE_FORMED.format(window=format_duration(int(dedup_window.total_seconds()))),
        "channels": [{"channel": channel,
                      "simulated": _counts(simulation.per_channel.get(channel, none)),
                      "actual": _counts(actual.get(channel, none))} for channel in channels],
    }


def _counts(count: ChannelCount) -> dict[str, int]:
    return {"groups": count.groups, "notifications": count.notifications}



def dedup_window_of(workspace: Mapping[str, Any]) -> timedelta:
    """The workspace's dedup window as grouping reads it: the seconds when set, else the minutes."""
    return timedelta(seconds=workspace.get("dedup_window_seconds") or (workspace.get("dedup_window_minutes") or 60) * 60)
