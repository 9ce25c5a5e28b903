"""`Envelope[X]` for every event built or decoded: pydantic holds its parametrized generics weakly, and
rebuilding one after a garbage collection costs milliseconds (issue 13, seen in the router's profile)."""

from __future__ import annotations

import gc
import weakref

from signalcraft_schemas import Envelope
from signalcraft_schemas.envelope import decode, encode, envelope_of
from signalcraft_schemas.events import GroupOpened

from ..builders import T0, make_group


def test_the_envelope_class_of_an_event_type_outlives_a_garbage_collection() -> None:
    held = weakref.ref(envelope_of(GroupOpened))
    gc.collect()
    assert held() is not None and held() is envelope_of(GroupOpened)


def test_built_and_decoded_envelopes_share_one_class_per_event_type() -> None:
    built = Envelope.wrap(GroupOpened(group=make_group()), workspace_id="ws", key="k", correlation_id="c",
                          occurred_at=T0)
    decoded = decode(encode(built))
    assert type(built) is type(decoded) is envelope_of(GroupOpened)
    assert decoded == built
