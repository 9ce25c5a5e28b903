"""Reading CPU time and memory from /proc text: the parts of `make bench` that are pure."""

from __future__ import annotations

import math

import pytest

from bench import procstat
from bench.procstat import ProcStat

# A real stat line's shape, with a command name holding a space and a parenthesis.
STAT = ("4242 (postgres: a) b) S 4200 4200 4200 0 -1 4194560 1234 0 0 0 "
        "150 30 7 3 20 0 1 0 98765 215318528 2300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0")

SMAPS_ROLLUP = """55d0c0a00000-7ffd6c1fe000 ---p 00000000 00:00 0                          [rollup]
Rss:               20480 kB
Pss:                6144 kB
Pss_Anon:           4096 kB
Pss_File:           2048 kB
Shared_Clean:      14336 kB
"""


def stat(pid: int, ppid: int, utime: int = 0, stime: int = 0, cutime: int = 0, cstime: int = 0) -> ProcStat:
    return ProcStat(pid=pid, comm=f"p{pid}", ppid=ppid, utime=utime, stime=stime, cutime=cutime, cstime=cstime)


def test_stat_line_is_split_after_the_last_parenthesis_of_the_command_name() -> None:
    parsed = procstat.parse_stat(STAT)
    assert parsed == ProcStat(pid=4242, comm="postgres: a) b", ppid=4200, utime=150, stime=30, cutime=7, cstime=3)
    assert parsed.ticks == 190


def test_pss_is_the_pss_line_not_its_anon_or_file_parts() -> None:
    assert procstat.parse_pss_kib(SMAPS_ROLLUP) == 6144


def test_smaps_rollup_without_pss_is_an_error() -> None:
    with pytest.raises(ValueError):
        procstat.parse_pss_kib("Rss: 1 kB\n")


def test_a_tree_is_its_root_and_every_live_descendant() -> None:
    stats = {s.pid: s for s in (stat(1, 0), stat(10, 1), stat(11, 10), stat(12, 11), stat(20, 1), stat(30, 0))}
    assert procstat.tree_members(stats, 10) == {10, 11, 12}
    assert procstat.tree_members(stats, 99) == set()


def test_a_backend_that_exits_keeps_its_cpu_in_the_tree_through_its_parents_reaped_time() -> None:
    before = {s.pid: s for s in (stat(100, 1, utime=50), stat(101, 100, utime=20, stime=5))}
    # 101 used 10 more ticks, exited and was reaped: the postmaster's cutime/cstime now hold its 35.
    after = {s.pid: s for s in (stat(100, 1, utime=52, cutime=30, cstime=5), stat(102, 100, utime=4))}
    roots = {"postgres": 100}
    used = procstat.seconds_between(procstat.ticks_by_tree(before, roots), procstat.ticks_by_tree(after, roots),
                                    ticks_per_s=100)
    assert used == {"postgres": pytest.approx((2 + 10 + 4) / 100)}


def test_cpu_per_alert_and_share_of_a_core() -> None:
    assert procstat.per_unit_ms({"ingest": 1.5}, 1000) == {"ingest": 1.5}
    assert math.isnan(procstat.per_unit_ms({"ingest": 1.5}, 0)["ingest"])
    assert procstat.core_percent({"tansu": 2.0}, 20.0) == {"tansu": 10.0}


def test_this_process_can_be_read_from_proc() -> None:
    me = procstat.snapshot()
    own, children = procstat.own_ticks()
    assert me and own >= 0 and children >= 0
