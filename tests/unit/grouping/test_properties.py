"""Property: feeding random alert streams through decide/evolve opens exactly one group per gap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from signalcraft_schemas.events import GroupOpened
from signalcraft_grouping.domain.group import decide, evolve

from ..builders import at, gid, make_alert, minutes

WINDOW_MIN = 60
FINGERPRINTS = [f"fp-{i}" for i in range(5)]

streams = st.lists(
    st.tuples(st.sampled_from(FINGERPRINTS), st.integers(min_value=0, max_value=150)),
    min_size=1, max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(streams)
def test_groups_opened_match_gaps_and_counts_match_alerts(steps):
    # Turn increments into increasing offsets (increments of 0 allowed: same-minute repeats).
    offsets, t = [], 0
    for _, inc in steps:
        t += inc
        offsets.append(t)
    alerts = [(fp, off) for (fp, _), off in zip(steps, offsets)]

    state: dict[str, object] = {}
    final: dict[object, object] = {}
    opened = 0
    next_id = iter(range(1, 10_000))
    for fp, off in alerts:
        key = f"ws:{fp}"
        for event in decide(state.get(key), make_alert(fingerprint=fp), group_key=key, received_at=at(off),
                            window=minutes(WINDOW_MIN), new_group_id=gid(next(next_id))):
            opened += isinstance(event, GroupOpened)
            state[key] = evolve(state.get(key), event)
            final[state[key].group_id] = state[key]

    expected_opens, last = 0, {}
    for fp, off in alerts:
        if fp not in last or off - last[fp] > WINDOW_MIN:
            expected_opens += 1
        last[fp] = off

    assert opened == expected_opens == len(final)
    assert sum(g.count for g in final.values()) == len(alerts)
    assert all(g.group_key == f"ws:{g.fingerprint}" for g in final.values())
