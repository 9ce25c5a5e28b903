"""What the read API answers, shaped from what its queries return: keyset pages and the
dashboard's arithmetic (dedup ratio, ack rate, MTTA)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, SupportsFloat

Row = dict[str, Any]


def page(rows: list[Row], limit: int, cursor: str) -> dict[str, Any]:
    """Newest first; a full page says where the next one starts (`before` = its last `cursor` value)."""
    return {"items": rows, "next_before": rows[-1][cursor] if len(rows) == limit else None}


@dataclass(frozen=True)
class OverviewCounts:
    """The dashboard's raw figures over its window, as the queries count them."""

    alerts: int
    groups: int
    acknowledged: int
    mean_ack_seconds: SupportsFloat | None  # over the acknowledged groups; None when none was
    resolved: int
    noisy_sources: list[Row]  # source, project, alerts, groups: the five noisiest
    delivered: int
    failed: int
    last_delivered_at: datetime | None
    integrations: list[Row]  # last webhook and alert total per integration
    # Who acknowledged the groups that are acknowledged now: people in Slack, API callers, providers.
    acknowledged_by: dict[str, int] = field(default_factory=dict)


def dedup_ratio(alerts: int, groups: int) -> float | None:
    """The share of alerts that did not open a group of their own."""
    return round(1 - groups / alerts, 4) if alerts else None


def ack_rate(groups: int, acknowledged: int) -> float | None:
    return round(acknowledged / groups, 4) if groups else None


def mtta_seconds(mean_ack_seconds: SupportsFloat | None) -> float | None:
    return round(float(mean_ack_seconds), 1) if mean_ack_seconds is not None else None


def alerts_per_group(alerts: int, groups: int) -> float | None:
    return round(alerts / groups, 2) if groups else None


def overview(counts: OverviewCounts, window_hours: int) -> dict[str, Any]:
    """Noise (alerts, groups, dedup ratio, noisy sources), MTTA, ack rate and delivery. Acks count
    whoever made them (Slack, the API, a provider); test notifications count nowhere."""
    noisy = [{**source, "alerts_per_group": alerts_per_group(source["alerts"], source["groups"])}
             for source in counts.noisy_sources]
    return {
        "window_hours": window_hours,
        "alerts": counts.alerts,
        "groups": counts.groups,
        "dedup_ratio": dedup_ratio(counts.alerts, counts.groups),
        "ack_rate": ack_rate(counts.groups, counts.acknowledged),
        "acknowledged_by": counts.acknowledged_by,
        "mtta_seconds": mtta_seconds(counts.mean_ack_seconds),
        "resolved": counts.resolved,
        "noisy_sources": noisy,
        "notifications": {"delivered": counts.delivered, "failed": counts.failed,
                          "last_delivered_at": counts.last_delivered_at},
        "integrations": counts.integrations,
    }
