"""The read API bench's pure helpers: percentiles, ranges over runs, the seeding plan, the request paths."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bench.read_api_bench import (
    WORKSPACES, endpoint_paths, percentile, range_text, seed_statements, summarize, workspace_case,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([7.0], 95) == 7.0
    assert percentile([3, 1, 2], 50) == 2  # unordered input


def test_summary_of_one_endpoint() -> None:
    assert summarize([10.0] * 19 + [100.0]) == {"p50_ms": 10.0, "p95_ms": 10.0, "max_ms": 100.0, "requests": 20}


def test_range_over_runs() -> None:
    assert range_text([12.0, 10.0, 15.5]) == "12.0 (10.0–15.5)"
    assert range_text([3.25]) == "3.2"


def test_workspace_shares_become_a_case_over_g_mod_100() -> None:
    sql = workspace_case("g", (("a", 40), ("b", 60)))
    assert sql == "CASE WHEN g % 100 < 40 THEN 'a' ELSE 'b' END"
    assert sum(share for _, share in WORKSPACES) == 100
    with pytest.raises(ValueError):
        workspace_case("g", (("a", 40), ("b", 50)))


def test_seeding_writes_query_apis_own_tables_and_needs_an_alert_per_group() -> None:
    steps = dict(seed_statements(groups=10, alerts=100, now_epoch=1_700_000_003))
    for table in ("groups", "alerts", "timeline", "notifications", "notes", "integration_activity", "workspaces",
                  "integrations"):
        assert any(f"INSERT INTO query.{table} " in sql for sql in steps.values()), table
    assert "to_timestamp(1700000000)" in steps["groups"]  # on the 5 s grid
    with pytest.raises(ValueError):
        seed_statements(groups=10, alerts=9, now_epoch=0)


def test_each_endpoint_cycles_over_the_workspaces() -> None:
    paths = endpoint_paths(["a", "b"], {"a": "ca", "b": "cb"}, [("g1", "a")])
    deep = next(p for name, p in paths.items() if "cursor" in name)
    assert [parse_qs(urlsplit(p).query) for p in deep] == [{"workspace_id": ["a"], "cursor": ["ca"]},
                                                          {"workspace_id": ["b"], "cursor": ["cb"]}]
    assert paths["group detail with timeline"] == ["/api/alert-groups/g1?workspace_id=a"]
    assert {parse_qs(urlsplit(p).query)["hours"][0] for p in paths["dashboard 7 d"]} == {"168"}
