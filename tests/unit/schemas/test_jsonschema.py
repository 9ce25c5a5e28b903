"""incompatibilities(old, new): what breaks old readers/writers, and what is merely additive."""

from __future__ import annotations

import copy


from signalcraft_schemas.events import EVENT_TYPES
from signalcraft_schemas.jsonschema import incompatibilities, schema_for


def obj(properties, required=(), defs=None):
    schema = {"type": "object", "properties": properties, "required": list(required)}
    if defs:
        schema["$defs"] = defs
    return schema


STR = {"type": "string"}
INT = {"type": "integer"}
OLD = obj({"name": STR, "count": INT}, required=["name"])


def test_identical_schemas_are_compatible():
    assert incompatibilities(OLD, copy.deepcopy(OLD)) == []


def test_every_real_event_schema_is_compatible_with_itself():
    for event_type in sorted(EVENT_TYPES):
        schema = schema_for(event_type)
        assert schema["title"] == f"{event_type} v{EVENT_TYPES[event_type].VERSION}"
        assert incompatibilities(schema, copy.deepcopy(schema)) == [], event_type


def test_removed_property_is_breaking():
    assert incompatibilities(OLD, obj({"name": STR}, required=["name"])) == ["$.count: removed"]


def test_changed_type_is_breaking():
    assert incompatibilities(OLD, obj({"name": STR, "count": STR}, required=["name"])) == [
        "$.count: type integer -> string"]


def test_newly_required_existing_property_is_breaking():
    assert incompatibilities(OLD, obj({"name": STR, "count": INT}, required=["name", "count"])) == [
        "$.count: newly required"]
    new = obj({"name": STR, "count": INT, "owner": STR}, required=["name", "owner"])
    assert incompatibilities(OLD, new) == ["$.owner: newly required"]


def test_added_optional_property_is_compatible():
    assert incompatibilities(OLD, obj({"name": STR, "count": INT, "owner": STR}, required=["name"])) == []


def enum_schema(values):
    return obj({"level": {"$ref": "#/$defs/Level"}}, defs={"Level": {"type": "string", "enum": values}})


def test_removed_enum_value_is_breaking_through_a_ref():
    problems = incompatibilities(enum_schema(["a", "b", "c"]), enum_schema(["a", "c"]))
    assert problems == ["$.level: enum values removed ['b']"]


def test_added_enum_value_is_compatible():
    assert incompatibilities(enum_schema(["a", "b"]), enum_schema(["a", "b", "c"])) == []


def test_nested_changes_are_found_with_their_path():
    old = obj({"items": {"type": "array", "items": obj({"id": STR})}})
    new = obj({"items": {"type": "array", "items": obj({"id": INT})}})
    assert incompatibilities(old, new) == ["$.items[].id: type string -> integer"]


def test_narrowed_union_is_breaking():
    old = obj({"x": {"anyOf": [STR, {"type": "null"}]}})
    new = obj({"x": {"anyOf": [STR]}})
    assert incompatibilities(old, new) == ["$.x: union member null removed"]


def test_real_schema_with_a_severity_value_removed_is_breaking():
    old = schema_for("group.opened")
    new = copy.deepcopy(old)
    new["$defs"]["Severity"]["enum"].remove("info")
    assert "$.data.group.severity: enum values removed ['info']" in incompatibilities(old, new)


def test_real_schema_with_a_severity_value_added_is_compatible():
    old = schema_for("group.opened")
    new = copy.deepcopy(old)
    new["$defs"]["Severity"]["enum"].append("extreme")
    assert incompatibilities(old, new) == []


def test_enum_value_added_behind_an_optional_is_compatible():
    old = schema_for("config.routing_rule")
    new = copy.deepcopy(old)
    new["$defs"]["Severity"]["enum"].append("extreme")
    assert incompatibilities(old, new) == []
