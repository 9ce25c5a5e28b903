"""The fuzz suite's system under test, started once per module (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .world import FuzzWorld, running_world


@pytest.fixture(scope="module")
def world() -> Iterator[FuzzWorld]:
    with running_world() as started:
        yield started


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing fuzz test shows the tail of every service's log: CI keeps nothing else."""
    report = yield
    world = getattr(item, "funcargs", {}).get("world")
    if report.failed and call.when == "call" and isinstance(world, FuzzWorld):
        report.sections.append(("service logs", world.log_tails()))
    return report
