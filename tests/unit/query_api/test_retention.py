"""Retention periods and the cut-offs they give (issue 11.6), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from signalcraft_schemas.durations import InvalidDuration
from signalcraft_query_api.domain.retention import RetentionPolicy, projection_group, retention_period
from signalcraft_ingest.domain.retention import cutoff, retention_period as delivery_retention

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("parse", [retention_period, delivery_retention])
def test_periods_are_durations_or_off(parse) -> None:  # type: ignore[no-untyped-def]
    assert parse("30d") == timedelta(days=30)
    assert parse("P1D") == timedelta(days=1)
    assert parse("90") == timedelta(seconds=90)
    for forever in ("off", "0", "", "OFF", "none"):
        assert parse(forever) is None
    with pytest.raises(InvalidDuration):
        parse("soon")


def test_each_kind_is_cut_off_at_now_minus_its_period_and_off_kinds_not_at_all() -> None:
    policy = RetentionPolicy(alerts=timedelta(days=90), timelines=None, notifications=timedelta(hours=1),
                             dead_letters=timedelta(days=30))
    assert policy.cutoffs(NOW) == {"alerts": NOW - timedelta(days=90), "notifications": NOW - timedelta(hours=1),
                                   "dead_letters": NOW - timedelta(days=30)}
    assert cutoff(NOW, timedelta(days=30)) == NOW - timedelta(days=30)
    assert cutoff(NOW, None) is None


def test_each_rebuild_generation_projects_in_a_group_of_its_own() -> None:
    assert projection_group("query-api", 0) == "query-api"  # as before any rebuild
    assert projection_group("query-api", 1) == "query-api-rebuild-1"
    assert projection_group("query-api", 2) != projection_group("query-api", 1)
