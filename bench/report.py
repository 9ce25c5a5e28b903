"""The performance table, regenerated from bench/results/: each figure as its median over the runs
chosen, with the min–max spread, and every throughput as a ratio to its own run's ceiling.

    python -m bench.report             # the runs of the current commit (else the last 5), print and
                                       # rewrite the table in bench/README.md and in the README's
                                       # performance section (between the same markers)
    python -m bench.report --last 3    # the last 3 runs, whatever their commit
    python -m bench.report --print-only
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .figures import TEST_DOUBLES, number, spread_text

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
ROOT_README = BENCH_DIR.parent / "README.md"  # its performance section holds the same table
TABLE_START = "<!-- bench.report table: start -->"
TABLE_END = "<!-- bench.report table: end -->"
MIN_SCHEMA = 2

Run = Mapping[str, Any]


def dig(run: Run, *path: str) -> Any:
    """run[a][b]... or None where a step is missing."""
    value: Any = run
    for step in path:
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


@dataclass(frozen=True)
class Figure:
    label: str
    value: Callable[[Run], float | None]
    decimals: int = 0
    suffix: str = ""


def at(*path: str) -> Callable[[Run], float | None]:
    return lambda run: dig(run, *path)


def figures(runs: Sequence[Run]) -> list[Figure]:
    """The table's rows; per-process and per-rate rows for whatever processes and rates the runs have."""
    rows = [
        Figure("Ceiling: bare FastAPI + uvicorn, 1 worker, HMAC + JSON parse (requests/s)", at("ceiling", "requests_per_s")),
        Figure("Sustained ingest, durable and grouped (alerts/s)", at("sustained", "durable_and_grouped_rate_per_s")),
        Figure("Sustained ingest as a share of the same run's ceiling", at("sustained", "ratio_to_ceiling", "durable_and_grouped"), 2, "×"),
        Figure("Webhook 2xx rate under max load (alerts/s)", at("sustained", "accept_rate_per_s")),
        Figure("Webhook 2xx rate as a share of the same run's ceiling", at("sustained", "ratio_to_ceiling", "accepted"), 2, "×"),
        Figure("Distinct groups (fingerprints) in the sustained phase", at("sustained", "fingerprints")),
    ]
    for rate in _keys(runs, "at_fixed_rate"):
        rows += [
            Figure(f"At {rate} alerts/s: webhook 2xx p50 (ms)", at("at_fixed_rate", rate, "webhook_2xx_p50_ms"), 1),
            Figure(f"At {rate} alerts/s: webhook 2xx p99 (ms)", at("at_fixed_rate", rate, "webhook_2xx_p99_ms"), 1),
            Figure(f"At {rate} alerts/s: webhook → Slack call p50 (ms)", at("at_fixed_rate", rate, "webhook_to_slack_p50_ms")),
            Figure(f"At {rate} alerts/s: webhook → Slack call p99 (ms)", at("at_fixed_rate", rate, "webhook_to_slack_p99_ms")),
        ]
        rows += [Figure(f"At {rate} alerts/s, hop p50: {hop.replace('->', '→')} (ms)", at("at_fixed_rate", rate, "hops_p50_ms", hop))
                 for hop in _keys(runs, "at_fixed_rate", rate, "hops_p50_ms")]
        for hop in _keys(runs, "at_fixed_rate", rate, "hop_split_p50_ms"):
            rows += [Figure(f"At {rate} alerts/s, all records p50: {hop.replace('->', '→')}, {part} (ms)",
                            at("at_fixed_rate", rate, "hop_split_p50_ms", hop, f"{part}_p50_ms"), 1)
                     for part in ("relay", "broker")]
    rows.append(Figure("CPU per alert, whole stack (ms)", at("sustained", "cpu_ms_per_alert_stack"), 2))
    rows.append(Figure("… net of the idle stack's CPU (ms)", at("sustained", "cpu_ms_per_alert_stack_net_of_idle"), 2))
    for name in _keys(runs, "sustained", "cpu_ms_per_alert"):
        note = " (test double, not in the total)" if name in TEST_DOUBLES else ""
        rows.append(Figure(f"CPU per alert: {name}{note} (ms)", at("sustained", "cpu_ms_per_alert", name), 3))
    rows += [
        Figure("CPU per alert: wrk, the load generator (ms)", at("sustained", "cpu_ms_per_alert_wrk"), 3),
        Figure("CPU per request: the ceiling app (ms)", at("ceiling", "cpu_ms_per_request", "ceiling_app"), 3),
        Figure("Idle stack CPU (% of a core)", at("idle", "stack_core_percent"), 1),
        Figure("Stack CPU at 2 webhooks/s, group updates flowing (% of a core)", at("trickle", "stack_core_percent"), 1),
        Figure("After the load phases: batch objects in the embedded broker (every fetch lists its topic's)",
               lambda run: sum((dig(run, "after_load", "batch_objects") or {}).values()) if dig(run, "after_load") else None),
        Figure("After the load phases: stack CPU, no webhooks (% of a core; the notifier still rewrites messages at Slack's pace)",
               at("after_load", "idle", "stack_core_percent"), 1),
        Figure("After the load phases: stack CPU at 2 webhooks/s (% of a core)", at("after_load", "trickle", "stack_core_percent"), 1),
        Figure("Stack memory PSS at sustained start (MB)", at("sustained", "pss_mb_stack_start")),
        Figure("Stack memory PSS at sustained end (MB)", at("sustained", "pss_mb_stack_end")),
        Figure("Stack memory PSS growth, second half of the sustained load (MB)",
               at("sustained", "pss_over_load", "stack_second_half_growth_mb")),
        Figure("Stack memory PSS, max during the open-loop phases (MB)", at("memory", "stack_pss_mb_max_open_loop")),
        Figure("Machine load average (1 min) at start", lambda run: (dig(run, "machine", "loadavg_start") or [None])[0], 1),
    ]
    return rows


def _keys(runs: Iterable[Run], *path: str) -> list[str]:
    """Keys of the mapping at `path`, in the order first met over the runs."""
    seen: dict[str, None] = {}
    for run in runs:
        seen.update(dict.fromkeys(dig(run, *path) or {}))
    return list(seen)


def load_runs(directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """Every result file of the current format, oldest first."""
    runs = []
    for path in sorted(directory.glob("*.json")):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and isinstance(run.get("schema"), int) and run["schema"] >= MIN_SCHEMA:
            run["file"] = path.name
            runs.append(run)
    return sorted(runs, key=lambda run: run.get("started_at", ""))


def choose(runs: Sequence[Run], commit: str | None, last: int | None, fallback: int = 5) -> list[Run]:
    """The runs of `commit` (the last `last` of them if given); with no commit, or none of its runs,
    the last `last` (else `fallback`) runs."""
    if commit:
        mine = [run for run in runs if dig(run, "git", "commit") == commit]
        if mine:
            return mine[-last:] if last else mine
    return list(runs[-(last or fallback):])


def table(runs: Sequence[Run]) -> str:
    """The markdown table, with a line saying which runs it summarises."""
    if not runs:
        return "_No benchmark results yet: run `make bench`._\n"
    commits = sorted({(dig(run, "git", "commit") or "unknown")[:12] for run in runs})
    loads = [(dig(run, "machine", "loadavg_start") or [None])[0] for run in runs]
    cores = sorted({dig(run, "machine", "cores") for run in runs if dig(run, "machine", "cores")})
    sustain = sorted({dig(run, "options", "sustain_seconds") for run in runs if dig(run, "options", "sustain_seconds")})
    lines = [
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} of `make bench` ({_dates(runs)}), commit {', '.join(commits)}, "
        f"{'/'.join(map(str, cores))} cores, sustained phase {'/'.join(number(s) for s in sustain)} s, "
        f"load average at start {spread_text(loads, 1)}. "
        "Median, with (min–max) over the runs when there are several.",
        "",
        "| Figure | Value |",
        "|---|---:|",
    ]
    for figure in figures(runs):
        values = [figure.value(run) for run in runs]
        if all(v is None for v in values):
            continue
        lines.append(f"| {figure.label} | {spread_text(values, figure.decimals, figure.suffix)} |")
    return "\n".join(lines) + "\n"


def _dates(runs: Sequence[Run]) -> str:
    first, last = str(runs[0].get("started_at", "?")), str(runs[-1].get("started_at", "?"))
    return first if first == last else f"{first} to {last}"


def replace_table(document: str, new_table: str) -> str:
    """The document with the text between the table markers replaced (markers appended if absent)."""
    block = f"{TABLE_START}\n{new_table}{TABLE_END}"
    start, end = document.find(TABLE_START), document.find(TABLE_END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + block + "\n"
    return document[:start] + block + document[end + len(TABLE_END):]


def current_commit() -> str | None:
    done = subprocess.run(["git", "-C", str(BENCH_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description="Tabulate bench/results/ for the README's performance section")
    parser.add_argument("--last", type=int, help="the last N runs (of the commit, when it has runs)")
    parser.add_argument("--any-commit", action="store_true", help="choose from every commit's runs")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--print-only", action="store_true", help="do not rewrite bench/README.md and README.md")
    args = parser.parse_args()
    runs = choose(load_runs(args.results), None if args.any_commit else current_commit(), args.last)
    text = table(runs)
    print(text, end="")
    if not args.print_only:
        README.write_text(replace_table(README.read_text() if README.exists() else "", text))
        written = [README]
        root = ROOT_README.read_text() if ROOT_README.exists() else ""
        if TABLE_START in root:  # the root README only where it has the markers: never appended to
            ROOT_README.write_text(replace_table(root, text))
            written.append(ROOT_README)
        print(f"\n(table written to {', '.join(map(str, written))})")


if __name__ == "__main__":
    main()
