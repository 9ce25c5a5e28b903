"""The ceiling app does the work it stands for: it refuses a bad signature and a body that is not JSON."""

from __future__ import annotations

import hashlib
import hmac

from fastapi.testclient import TestClient

from bench.ceiling_app import ceiling_app

SECRET = "s3cret"


def post(client: TestClient, body: bytes, signature: str) -> int:
    return client.post("/webhooks/sentry/any", content=body, headers={"Sentry-Hook-Signature": signature}).status_code


def test_a_signed_json_object_is_accepted_and_anything_else_refused() -> None:
    client = TestClient(ceiling_app(SECRET))
    sign = lambda body: hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()  # noqa: E731
    assert post(client, b'{"data": {}}', sign(b'{"data": {}}')) == 202
    assert post(client, b'{"data": {}}', sign(b'{"data": 1}')) == 401
    assert post(client, b'{"data"', sign(b'{"data"')) == 400
    assert post(client, b"[1]", sign(b"[1]")) == 422
