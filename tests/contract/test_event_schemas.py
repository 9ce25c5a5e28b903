"""The event schemas are the contract between services: the committed JSON Schemas must match the
code, and a change to a committed version must be backward compatible (additive only)."""

from __future__ import annotations

import json

import pytest

from signalcraft_schemas import Envelope, decode, encode
from signalcraft_schemas.events import EVENT_TYPES
from signalcraft_schemas.jsonschema import export, file_for, incompatibilities, schema_for


def test_every_event_type_has_a_committed_schema_that_matches_the_code() -> None:
    missing = [t for t in EVENT_TYPES if not file_for(t).exists()]
    assert missing == [], f"run `make schemas` and commit: {missing}"
    assert export(check_only=True) == []


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_code_is_backward_compatible_with_the_committed_schema(event_type: str) -> None:
    committed = json.loads(file_for(event_type).read_text())
    assert incompatibilities(committed, schema_for(event_type)) == []


def test_a_removed_field_in_a_real_event_is_reported_as_breaking() -> None:
    committed = json.loads(file_for("alert.normalized").read_text())
    changed = schema_for("alert.normalized")
    del changed["$defs"]["NormalizedAlert"]["properties"]["fingerprint"]
    assert "$.data.alert.fingerprint: removed" in incompatibilities(committed, changed)


def test_a_new_required_field_in_a_real_event_is_reported_as_breaking() -> None:
    committed = json.loads(file_for("group.opened").read_text())
    changed = schema_for("group.opened")
    changed["$defs"]["GroupSnapshot"]["properties"]["owner"] = {"type": "string"}
    changed["$defs"]["GroupSnapshot"]["required"].append("owner")
    assert "$.data.group.owner: newly required" in incompatibilities(committed, changed)


def test_an_event_round_trips_through_its_wire_encoding(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from signalcraft_schemas.events import WorkspaceConfigured

    env = Envelope.wrap(WorkspaceConfigured(workspace_id="w", name="W"), workspace_id="w", key="workspace:w",
                        correlation_id="c", occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    back = decode(encode(env))
    assert back == env and isinstance(back.data, WorkspaceConfigured)
    # What is on the wire validates against the committed schema's required fields.
    schema = json.loads(file_for("config.workspace").read_text())
    assert set(schema["required"]) <= set(json.loads(encode(env)))
