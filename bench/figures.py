"""How the bench writes its figures: numbers, ratios to the same run's ceiling, spreads over runs. Pure."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Processes the bench starts that are not part of a deployment (Slack's servers are): shown, but
# left out of the stack's totals.
TEST_DOUBLES = ("fake-slack",)


def number(value: float | None, decimals: int = 0) -> str:
    """1234.5 -> '1,235'; None or NaN -> 'n/a'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{decimals}f}"


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or not ceiling:
        return None
    return value / ceiling


def times(value: float | None) -> str:
    """A ratio as '0.09×' (two significant decimals; more below 0.01 so it never reads as 0)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}×" if value >= 0.01 else f"{value:.4f}×"


def against_ceiling(label: str, value: float | None, ceiling: float | None, unit: str = "alerts/s") -> str:
    """'sustained ingest, durable and grouped: 640 alerts/s = 0.09× ceiling 6,900/s'."""
    return f"{label}: {number(value)} {unit} = {times(ratio(value, ceiling))} ceiling {number(ceiling)}/s"


def spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """(median, min, max) of the numbers present, None if there are none."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return None
    return statistics.median(present), min(present), max(present)


def spread_text(values: Sequence[float], decimals: int = 0, suffix: str = "") -> str:
    """'640 (590–717)' over several runs, '640' for one, 'n/a' for none."""
    found = spread(values)
    if found is None:
        return "n/a"
    median, low, high = found
    if len([v for v in values if v is not None and not math.isnan(v)]) == 1:
        return f"{number(median, decimals)}{suffix}"
    return f"{number(median, decimals)}{suffix} ({number(low, decimals)}–{number(high, decimals)})"
