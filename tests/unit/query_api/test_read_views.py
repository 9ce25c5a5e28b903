"""The read API's arithmetic: keyset pages and the dashboard's ratios."""

from __future__ import annotations

from decimal import Decimal

from signalcraft_query_api.domain.read_views import (
    OverviewCounts, ack_rate, alerts_per_group, dedup_ratio, mtta_seconds, overview, page,
)

from ..builders import at


def test_a_full_page_says_where_the_next_one_starts_and_a_short_one_that_it_is_the_last():
    rows = [{"received_at": at(3)}, {"received_at": at(2)}]
    assert page(rows, 2, "received_at") == {"items": rows, "next_before": at(2)}
    assert page(rows, 3, "received_at") == {"items": rows, "next_before": None}
    assert page([], 50, "last_seen_at") == {"items": [], "next_before": None}


def test_dedup_ratio_is_the_share_of_alerts_that_opened_no_group():
    assert dedup_ratio(alerts=100, groups=5) == 0.95
    assert dedup_ratio(alerts=3, groups=3) == 0.0
    assert dedup_ratio(alerts=3, groups=1) == 0.6667  # rounded to four places
    assert dedup_ratio(alerts=0, groups=0) is None


def test_ack_rate_and_mtta():
    assert ack_rate(groups=8, acknowledged=2) == 0.25
    assert ack_rate(groups=0, acknowledged=0) is None
    assert mtta_seconds(Decimal("61.2549")) == 61.3  # PostgreSQL's avg() is a numeric
    assert mtta_seconds(None) is None


def test_alerts_per_group():
    assert alerts_per_group(alerts=10, groups=3) == 3.33
    assert alerts_per_group(alerts=0, groups=0) is None


def test_overview_puts_counts_and_ratios_together():
    counts = OverviewCounts(
        alerts=100, groups=5, acknowledged=1, mean_ack_seconds=Decimal("30"), resolved=2,
        noisy_sources=[{"source": "sentry", "project": "checkout", "alerts": 90, "groups": 4}],
        delivered=5, failed=1, last_delivered_at=at(1), integrations=[{"integration_id": "sen-1"}],
        acknowledged_by={"slack": 1, "api": 0, "provider": 0})
    assert overview(counts, window_hours=24) == {
        "window_hours": 24, "alerts": 100, "groups": 5, "dedup_ratio": 0.95, "ack_rate": 0.2, "mtta_seconds": 30.0,
        "acknowledged_by": {"slack": 1, "api": 0, "provider": 0}, "resolved": 2,
        "noisy_sources": [{"source": "sentry", "project": "checkout", "alerts": 90, "groups": 4,
                           "alerts_per_group": 22.5}],
        "notifications": {"delivered": 5, "failed": 1, "last_delivered_at": at(1)},
        "integrations": [{"integration_id": "sen-1"}],
    }
