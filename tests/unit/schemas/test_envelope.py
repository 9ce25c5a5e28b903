"""Envelope: wrap/caused metadata, and encode/decode as an exact round trip."""

from __future__ import annotations

from uuid import UUID

import orjson
import pytest

from signalcraft_schemas import Envelope, decode, encode
from signalcraft_schemas.envelope import UnknownEventType
from signalcraft_schemas.events import CloseQuietGroup, GroupOpened, GroupUpdated
from signalcraft_schemas.upcasting import UnsupportedSchemaVersion

from ..builders import GROUP_KEY, WORKSPACE, at, make_group

EVENT_ID = UUID("01890000-0000-7000-8000-0000000000aa")


def opened_envelope(**overrides):
    fields = dict(workspace_id=WORKSPACE, key=GROUP_KEY, correlation_id="delivery-1", occurred_at=at(0), id=EVENT_ID)
    fields.update(overrides)
    return Envelope.wrap(GroupOpened(group=make_group()), **fields)


def test_wrap_takes_type_and_version_from_the_data():
    env = opened_envelope()
    assert (env.type, env.schema_version, env.id, env.key, env.causation_id) == (
        "group.opened", 1, EVENT_ID, GROUP_KEY, None)
    assert env.data == GroupOpened(group=make_group())
    first, second = opened_envelope(id=None), opened_envelope(id=None)  # no id given: a fresh UUIDv7
    assert first.id.version == 7
    assert first.id != second.id


def test_caused_keeps_workspace_and_correlation_and_points_at_its_cause():
    parent = opened_envelope()
    child = parent.caused(GroupUpdated(group=make_group(count=2), alerts_added=1), occurred_at=at(5))
    assert child.causation_id == parent.id
    assert child.id != parent.id
    assert (child.workspace_id, child.correlation_id, child.key) == (WORKSPACE, "delivery-1", GROUP_KEY)
    assert (child.type, child.occurred_at) == ("group.updated", at(5))
    child = parent.caused(
        CloseQuietGroup(group_id=make_group().group_id, group_key="other", quiet_since=at(0)), key="other", occurred_at=at(1))
    assert child.key == "other"


def test_encode_decode_round_trip_is_exact():
    env = opened_envelope(causation_id=UUID("01890000-0000-7000-8000-0000000000bb"))
    raw = encode(env)
    assert isinstance(raw, bytes)
    back = decode(raw)
    assert back == env
    assert isinstance(back.data, GroupOpened)
    assert back.data.group.last_seen_at == at(0)
    assert encode(back) == raw
    assert decode(raw.decode()) == env
    assert decode(orjson.loads(raw)) == env


def test_decode_rejects_an_unknown_type():
    doc = orjson.loads(encode(opened_envelope()))
    doc["type"] = "group.exploded"
    with pytest.raises(UnknownEventType, match="group.exploded"):
        decode(doc)


def test_decode_rejects_a_schema_version_newer_than_the_reader():
    doc = orjson.loads(encode(opened_envelope()))
    doc["schema_version"] = 2
    with pytest.raises(UnsupportedSchemaVersion):
        decode(doc)


def test_envelope_requires_an_aware_occurred_at():
    from datetime import datetime

    with pytest.raises(ValueError):
        opened_envelope(occurred_at=datetime(2024, 5, 1, 12, 0))


def test_a_reader_ignores_fields_a_newer_writer_added_at_any_depth():
    """Rolling upgrades: the additive change `make schemas` allows must not make older readers reject events."""
    doc = orjson.loads(encode(opened_envelope()))
    doc["data"]["added_by_a_newer_version"] = 1
    doc["data"]["group"]["also_new"] = {"nested": True}
    assert decode(orjson.dumps(doc)) == opened_envelope()


def test_building_an_event_still_refuses_unknown_fields():
    with pytest.raises(ValueError):
        GroupOpened(group=make_group(), typo=1)  # type: ignore[call-arg]
