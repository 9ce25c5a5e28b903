"""The API's OpenAPI document as the service serves it, built without starting anything.

`make openapi` writes it to docs/openapi.json, the contract the frontend builds on;
tests/contract/test_openapi.py fails when the code drifts from the committed document, and the
end-to-end schemathesis run checks that the running service serves exactly it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def build() -> dict[str, Any]:
    from .main import QueryApiSettings, create_service  # composing the app: imported only when asked

    # The document does not depend on these values: only on the routes and their models.
    settings = QueryApiSettings(admin_token="openapi-document")  # type: ignore[call-arg]
    return create_service(settings).app().openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else COMMITTED
    target.write_text(render(build()))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
