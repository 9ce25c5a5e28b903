"""Export each event's envelope as JSON Schema, and judge whether a change is backward compatible.

`python -m signalcraft_schemas.jsonschema` writes `libs/schemas/jsonschema/<type>.v<version>.json`;
it refuses to overwrite a committed file with an incompatible schema (bump VERSION and add an
upcaster instead). `tests/contract/test_event_schemas.py` holds the committed files to the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .envelope import Envelope
from .events import EVENT_TYPES

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "jsonschema"


def schema_for(event_type: str) -> dict[str, Any]:
    model = EVENT_TYPES[event_type]
    schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = f"{event_type} v{model.VERSION}"
    return schema


def file_for(event_type: str) -> Path:
    return SCHEMA_DIR / f"{event_type}.v{EVENT_TYPES[event_type].VERSION}.json"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {})[name]
    return schema


def _kind(schema: dict[str, Any]) -> str:
    return str(schema.get("type") or schema.get("title") or ("enum" if "enum" in schema else "any"))


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a reader of `old` data would trip on in `new` data, or a writer of `old` data in `new` readers.

    Breaking: a property removed, a property's type changed, a new required property, an enum value
    removed. Additive changes (new optional property, new enum value) are compatible.
    """
    problems: list[str] = []

    def walk(o: dict[str, Any], n: dict[str, Any], path: str) -> None:
        o, n = _resolve(o, old), _resolve(n, new)
        if o.get("type") != n.get("type"):
            problems.append(f"{path}: type {o.get('type')} -> {n.get('type')}")
        if "enum" in o:
            missing = set(o["enum"]) - set(n.get("enum", []))
            if missing:
                problems.append(f"{path}: enum values removed {sorted(missing)}")
        if "anyOf" in o:
            # Each old member must still be accepted: pair it with the new member of the same kind
            # and compare those, so an additive change inside an Optional[...] stays compatible.
            new_members = [_resolve(x, new) for x in n.get("anyOf", [n])]
            for index, member in enumerate(_resolve(x, old) for x in o["anyOf"]):
                twin = next((m for m in new_members if _kind(m) == _kind(member)), None)
                if twin is None:
                    problems.append(f"{path}: union member {_kind(member)} removed")
                else:
                    walk(member, twin, f"{path}|{index}")
        o_props, n_props = o.get("properties", {}), n.get("properties", {})
        for name, sub in o_props.items():
            if name not in n_props:
                problems.append(f"{path}.{name}: removed")
            else:
                walk(sub, n_props[name], f"{path}.{name}")
        added_required = set(n.get("required", [])) - set(o.get("required", []))
        for name in sorted(added_required):
            problems.append(f"{path}.{name}: newly required")
        if "items" in o and "items" in n:
            walk(o["items"], n["items"], f"{path}[]")

    walk(old, new, "$")
    return problems


def export(check_only: bool = False) -> list[str]:
    """Write (or with check_only, compare) every schema file; return the problems found."""
    problems: list[str] = []
    SCHEMA_DIR.mkdir(exist_ok=True)
    for event_type in sorted(EVENT_TYPES):
        path, schema = file_for(event_type), schema_for(event_type)
        if path.exists():
            committed = json.loads(path.read_text())
            broken = incompatibilities(committed, schema)
            if broken:
                problems += [f"{path.name}: {b}" for b in broken]
                continue
            if committed == schema:
                continue
        if check_only:
            problems.append(f"{path.name}: differs from the code; run `make schemas`")
        else:
            path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return problems


if __name__ == "__main__":
    found = export(check_only="--check" in sys.argv)
    for line in found:
        print(line, file=sys.stderr)
    sys.exit(1 if found else 0)
