"""CPU time and memory of process trees, read from Linux /proc.

The parsers and the arithmetic are pure (they take the files' text); `snapshot` and `pss_by_tree`
read /proc. CPU is counted per tree as utime+stime+cutime+cstime of every live process in it: a
child that exits (a PostgreSQL backend closing) is reaped by its parent, and the kernel then adds
its CPU time to the parent's cutime/cstime, so a tree's total stays whole while processes come and go.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def ticks(self) -> int:
        """Its own CPU time and that of its children it has reaped, in clock ticks."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name is in parentheses and may itself hold spaces and
    parentheses, so the fields are split after its last ')'."""
    head, _, tail = text.rpartition(")")
    pid_text, _, comm = head.partition("(")
    fields = tail.split()
    # fields[0] is field 3 of proc(5) (state): ppid is field 4, utime..cstime fields 14..17.
    return ProcStat(pid=int(pid_text), comm=comm, ppid=int(fields[1]), utime=int(fields[11]),
                    stime=int(fields[12]), cutime=int(fields[13]), cstime=int(fields[14]))


def parse_pss_kib(text: str) -> int:
    """The `Pss:` line of /proc/<pid>/smaps_rollup, in KiB (not Pss_Anon, Pss_File, ...)."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "Pss":
            return int(value.split()[0])
    raise ValueError("no Pss line in smaps_rollup")


def tree_members(stats: Mapping[int, ProcStat], root: int) -> set[int]:
    """`root` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    members, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in members or pid not in stats:
            continue
        members.add(pid)
        todo.extend(children.get(pid, ()))
    return members


def ticks_by_tree(stats: Mapping[int, ProcStat], roots: Mapping[str, int]) -> dict[str, int]:
    return {name: sum(stats[pid].ticks for pid in tree_members(stats, root)) for name, root in roots.items()}


def seconds_between(before: Mapping[str, int], after: Mapping[str, int],
                    ticks_per_s: float = CLOCK_TICKS_PER_S) -> dict[str, float]:
    """CPU seconds each tree used between two `ticks_by_tree` readings (trees in both only)."""
    return {name: (after[name] - before[name]) / ticks_per_s for name in after if name in before}


def per_unit_ms(cpu_seconds: Mapping[str, float], units: int) -> dict[str, float]:
    """CPU milliseconds per unit of work (per alert, per request); NaN when no work was done."""
    return {name: (seconds * 1000 / units if units else float("nan")) for name, seconds in cpu_seconds.items()}


def core_percent(cpu_seconds: Mapping[str, float], wall_seconds: float) -> dict[str, float]:
    """Share of one core, in percent: 100 is one core kept busy for the whole window."""
    return {name: seconds * 100 / wall_seconds for name, seconds in cpu_seconds.items()}


# --- reading /proc ---

def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None  # gone between listing and reading


def snapshot() -> dict[int, ProcStat]:
    """Every process's stat line, now."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[stat.pid] = stat
    return stats


def read_pss_kib(pid: int) -> int | None:
    try:
        return parse_pss_kib((PROC / str(pid) / "smaps_rollup").read_text())
    except (OSError, ValueError):
        return None


def pss_mb_by_tree(roots: Mapping[str, int]) -> dict[str, float]:
    stats = snapshot()
    return {name: sum(read_pss_kib(pid) or 0 for pid in tree_members(stats, root)) / 1024
            for name, root in roots.items()}


def own_ticks() -> tuple[int, int]:
    """This process's CPU ticks: (its own, its reaped children's). The children's part is the load
    generator's (wrk) once it has been waited for."""
    me = read_stat(os.getpid())
    assert me is not None
    return me.utime + me.stime, me.cutime + me.cstime


def process_count(roots: Iterable[int]) -> int:
    stats = snapshot()
    return len(set().union(*(tree_members(stats, root) for root in roots)))
