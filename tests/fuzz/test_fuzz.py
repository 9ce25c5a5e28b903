"""Fuzz suite: generated bad and hostile requests against every webhook endpoint and every query-API
route of the running system -> no 5xx, every refusal a 4xx with a reason, nothing stored for a
refused request, and nothing accepted poisons the pipeline downstream.

`make test` runs a seeded slice (SLICE requests); `make fuzz` the full run
(SIGNALCRAFT_FUZZ_REQUESTS=10000), printing the counts per status class and per endpoint.
SIGNALCRAFT_FUZZ_SEED picks another seed; a failure prints the seed and sample requests to replay.
"""

from __future__ import annotations

import os

import pytest

from .runner import run
from .storage import database_now, pipeline_problems, storage_problems
from .world import FuzzWorld

pytestmark = pytest.mark.e2e

SLICE = 1000
SEED = 8


def test_hostile_requests_are_refused_with_a_reason_and_leave_nothing_behind(world: FuzzWorld) -> None:
    count = int(os.environ.get("SIGNALCRAFT_FUZZ_REQUESTS", SLICE))
    seed = int(os.environ.get("SIGNALCRAFT_FUZZ_SEED", SEED))
    since = database_now(world)

    report = run(world, seed, count)
    print("\n" + report.summary())

    assert not report.violations, f"{report.summary()}\n{report.violation_samples()}"
    assert not (stored := storage_problems(world, report, since)), stored
    assert not (downstream := pipeline_problems(world, report, since)), downstream
