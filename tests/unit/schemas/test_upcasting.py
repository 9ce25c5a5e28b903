"""upcast: chains registered steps from the stored version to the reader's, and refuses what it cannot."""

from __future__ import annotations

import pytest

from signalcraft_schemas.upcasting import UnsupportedSchemaVersion, upcast


class ThingV3:
    VERSION = 3


def v1_to_v2(data):
    return {"full_name": data["name"]}


def v2_to_v3(data):
    return {**data, "tags": []}


TABLE = {("thing.happened", 1): v1_to_v2, ("thing.happened", 2): v2_to_v3}


def doc(version=None, data=None):
    d = {"type": "thing.happened", "id": "x", "data": data if data is not None else {"name": "a"}}
    if version is not None:
        d["schema_version"] = version
    return d


def test_v1_is_upcast_through_every_step_to_v3():
    out = upcast(doc(1), ThingV3, TABLE)
    assert out == {"type": "thing.happened", "id": "x", "data": {"full_name": "a", "tags": []}, "schema_version": 3}
    original = doc(1)
    upcast(original, ThingV3, TABLE)
    assert original == doc(1)  # the input document is not mutated


def test_missing_schema_version_means_v1():
    assert upcast(doc(None), ThingV3, TABLE)["data"] == {"full_name": "a", "tags": []}


def test_v2_only_runs_the_remaining_step():
    out = upcast(doc(2, {"full_name": "b"}), ThingV3, TABLE)
    assert out["data"] == {"full_name": "b", "tags": []}
    assert out["schema_version"] == 3


def test_current_version_is_returned_unchanged():
    original = doc(3, {"full_name": "c", "tags": ["t"]})
    assert upcast(original, ThingV3, TABLE) == original


def test_a_version_newer_than_the_reader_is_rejected():
    with pytest.raises(UnsupportedSchemaVersion, match="v4 is newer"):
        upcast(doc(4), ThingV3, TABLE)


def test_a_missing_step_in_the_chain_is_rejected():
    with pytest.raises(UnsupportedSchemaVersion, match="no upcaster for thing.happened v2"):
        upcast(doc(1), ThingV3, {("thing.happened", 1): v1_to_v2})
    with pytest.raises(UnsupportedSchemaVersion):  # another type's upcasters do not apply
        upcast(doc(1), ThingV3, {("other.type", 1): v1_to_v2, ("other.type", 2): v2_to_v3})
