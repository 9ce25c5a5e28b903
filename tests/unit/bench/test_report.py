"""The bench's figures and the README table regenerated from bench/results/."""

from __future__ import annotations

import json
from typing import Any
from pathlib import Path

from bench import report
from bench.figures import against_ceiling, spread_text, times


def run(commit: str, started: str, ceiling: float, grouped: float, ingest_ms: float) -> dict:
    return {
        "schema": 2, "started_at": started, "git": {"commit": commit, "dirty": False},
        "machine": {"cores": 2, "loadavg_start": [1.5, 1.0, 1.0]}, "options": {"sustain_seconds": 20},
        "ceiling": {"requests_per_s": ceiling, "cpu_ms_per_request": {"ceiling_app": 0.14}},
        "sustained": {"durable_and_grouped_rate_per_s": grouped, "ratio_to_ceiling": {"durable_and_grouped": grouped / ceiling},
                      "cpu_ms_per_alert": {"ingest": ingest_ms, "fake-slack": 0.01}},
        "at_fixed_rate": {"500": {"webhook_2xx_p99_ms": 40.0, "hop_split_p50_ms": {
            "ingest -> grouping": {"relay_p50_ms": ingest_ms * 10, "broker_p50_ms": 30.0, "batch_p50_ms": 5.0}}}},
    }


def test_a_throughput_is_printed_beside_its_ratio_to_the_ceiling() -> None:
    assert (against_ceiling("sustained ingest, durable and grouped", 640, 6900)
            == "sustained ingest, durable and grouped: 640 alerts/s = 0.09× ceiling 6,900/s")
    assert against_ceiling("x", 640, 0).endswith("n/a ceiling 0/s")
    assert times(0.004) == "0.0040×"


def test_a_spread_is_the_median_with_min_and_max_and_one_run_is_just_its_value() -> None:
    assert spread_text([700, 470, 640]) == "640 (470–700)"
    assert spread_text([0.0926], 2, "×") == "0.09×"
    assert spread_text([None, float("nan")]) == "n/a"


def test_runs_of_the_current_commit_are_chosen_else_the_last_ones() -> None:
    runs = [run("a", "1", 7000, 600, 0.5), run("b", "2", 7000, 650, 0.5), run("b", "3", 7000, 700, 0.5)]
    assert [r["started_at"] for r in report.choose(runs, "b", None)] == ["2", "3"]
    assert [r["started_at"] for r in report.choose(runs, "b", 1)] == ["3"]
    assert [r["started_at"] for r in report.choose(runs, "c", 2)] == ["2", "3"]
    assert [r["started_at"] for r in report.choose(runs, None, None)] == ["1", "2", "3"]


def test_the_table_has_one_row_per_figure_present_with_the_spread_over_runs() -> None:
    text = report.table([run("abc", "1", 6000, 600, 0.5), run("abc", "2", 8000, 700, 0.7)])
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1].rstrip(" |") for line in text.splitlines()
            if line.startswith("| ") and " | " in line}
    assert rows["Sustained ingest, durable and grouped (alerts/s)"] == "650 (600–700)"
    assert rows["Sustained ingest as a share of the same run's ceiling"] == "0.09× (0.09–0.10)"
    assert rows["CPU per alert: ingest (ms)"] == "0.600 (0.500–0.700)"
    assert rows["CPU per alert: fake-slack (test double, not in the total) (ms)"] == "0.010 (0.010–0.010)"
    assert rows["At 500 alerts/s: webhook 2xx p99 (ms)"] == "40.0 (40.0–40.0)"
    assert rows["At 500 alerts/s, all records p50: ingest → grouping, relay (ms)"] == "6.0 (5.0–7.0)"
    assert rows["At 500 alerts/s, all records p50: ingest → grouping, broker (ms)"] == "30.0 (30.0–30.0)"
    assert "Idle stack CPU (% of a core)" not in rows  # no run measured it
    assert text.startswith("2 runs of `make bench`")


def test_the_readme_table_is_replaced_between_its_markers_and_appended_when_they_are_missing() -> None:
    document = f"# Bench\n\nintro\n\n{report.TABLE_START}\nold\n{report.TABLE_END}\n\nafter\n"
    replaced = report.replace_table(document, "new\n")
    assert replaced == f"# Bench\n\nintro\n\n{report.TABLE_START}\nnew\n{report.TABLE_END}\n\nafter\n"
    assert report.replace_table("# Bench\n", "new\n") == f"# Bench\n\n{report.TABLE_START}\nnew\n{report.TABLE_END}\n"


def test_only_result_files_of_the_current_format_are_loaded_oldest_first(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(run("x", "2024-02-01T00:00:00", 7000, 600, 0.5)))
    (tmp_path / "a.json").write_text(json.dumps(run("x", "2024-03-01T00:00:00", 7000, 600, 0.5)))
    (tmp_path / "ingest-old.json").write_text(json.dumps({"sustained": {}}))
    (tmp_path / "broken.json").write_text("{")
    assert [r["file"] for r in report.load_runs(tmp_path)] == ["b.json", "a.json"]


def test_the_table_goes_into_both_readmes_but_the_root_one_only_between_its_markers(
        tmp_path: Path, monkeypatch: Any) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_text(json.dumps(run("c1", "2026-12-01T10:00:00", 6900, 700, 0.5)))
    bench_readme, root_readme = tmp_path / "bench-README.md", tmp_path / "README.md"
    bench_readme.write_text("# Bench\n")
    root_readme.write_text(f"# Root\n## Performance\n{report.TABLE_START}\nold\n{report.TABLE_END}\nafter\n")
    monkeypatch.setattr(report, "README", bench_readme)
    monkeypatch.setattr(report, "ROOT_README", root_readme)
    monkeypatch.setattr("sys.argv", ["bench.report", "--results", str(results), "--any-commit"])
    report.main()
    root = root_readme.read_text()
    assert "old" not in root and "| Sustained ingest, durable and grouped (alerts/s) | 700 |" in root
    assert root.endswith(f"{report.TABLE_END}\nafter\n")
    assert "| Sustained ingest, durable and grouped (alerts/s) | 700 |" in bench_readme.read_text()

    root_readme.write_text("# Root without markers\n")  # never appended to
    report.main()
    assert root_readme.read_text() == "# Root without markers\n"
