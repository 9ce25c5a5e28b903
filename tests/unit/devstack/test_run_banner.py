"""`make run`'s banner says where the OpenAPI page is and how to create a member token (issue 11)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from signalcraft_devstack.run import banner


def test_the_banner_shows_the_openapi_page_and_how_to_create_a_member_token():
    stack = SimpleNamespace(url=lambda name: {"query-api": "http://127.0.0.1:8000", "ingest": "http://127.0.0.1:8001"}[name],
                            admin_token="adm", slack_url="http://127.0.0.1:8010", logs=Path("/tmp/logs"),
                            broker=SimpleNamespace(bootstrap_servers="127.0.0.1:9092"), database_url="postgresql://x")
    text = banner(stack, {"integration_id": "sen-1", "secret": "s"})  # type: ignore[arg-type]
    assert "OpenAPI page http://127.0.0.1:8000/docs" in text
    assert "signalcraft token create --workspace demo --role member --name me --expires 30d" in text
    assert "SIGNALCRAFT_TOKEN" in text
