"""The committed OpenAPI document (docs/openapi.json) is the API the frontend builds on: the code
must not drift from it unnoticed. After an intended change, `make openapi` and commit the diff."""

from __future__ import annotations

import json

from signalcraft_query_api.main import CORS_METHODS
from signalcraft_query_api.openapi_document import COMMITTED, build, render


def test_the_code_serves_the_committed_openapi_document():
    built, committed = render(build()), COMMITTED.read_text()
    if built != committed:
        ours, theirs = json.loads(built)["paths"], json.loads(committed)["paths"]
        added, removed = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        raise AssertionError("the API drifted from docs/openapi.json (run `make openapi` and commit it if intended); "
                             f"paths added {added}, removed {removed}, others changed in their parameters or models")


def _typed(schema: dict) -> bool:
    """A named model, or a list of them; plain `dict`/`Any` tells the frontend nothing."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}))
    return any(_typed(s) for s in schema.get("anyOf", [])) and all(
        _typed(s) or s.get("type") == "null" for s in schema.get("anyOf", []))


def test_every_api_operation_answers_a_typed_model():
    untyped = []
    for path, operations in json.loads(COMMITTED.read_text())["paths"].items():
        if not path.startswith("/api/"):
            continue  # health, metrics and the Slack/OAuth callbacks answer their own formats
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if code.startswith("2") and schema is not None and not _typed(schema):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert not untyped, f"operations whose success response is not a pydantic model: {untyped}"


def test_a_browser_frontend_may_use_every_method_the_api_answers():
    """A method missing from CORS fails in the browser's preflight only (PATCH once did)."""
    used = {method.upper() for path, operations in json.loads(COMMITTED.read_text())["paths"].items()
            if path.startswith("/api/") for method in operations}
    assert used <= set(CORS_METHODS), f"methods the API answers but CORS refuses: {sorted(used - set(CORS_METHODS))}"
