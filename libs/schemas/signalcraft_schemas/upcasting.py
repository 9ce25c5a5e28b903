"""Upcasters turn an older `data` shape into the current one at decode time (eventsourcing's Mapper).

Register `(type, from_version) -> function(data) -> data`; they chain until the current version.
No event has a second version yet, so the table is empty; `tests/contract` exercises the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnsupportedSchemaVersion(ValueError):
    pass


def upcast(doc: dict[str, Any], model: Any, upcasters: dict[tuple[str, int], Upcaster] | None = None) -> dict[str, Any]:
    table = UPCASTERS if upcasters is None else upcasters
    version = int(doc.get("schema_version", 1))
    if version > model.VERSION:
        raise UnsupportedSchemaVersion(f"{doc.get('type')} v{version} is newer than this reader (v{model.VERSION})")
    while version < model.VERSION:
        step = table.get((doc["type"], version))
        if step is None:
            raise UnsupportedSchemaVersion(f"no upcaster for {doc['type']} v{version}")
        doc = {**doc, "data": step(doc["data"]), "schema_version": version + 1}
        version += 1
    return doc
