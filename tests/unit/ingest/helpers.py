"""Builders the ingest unit tests share: requests, integrations, a fake ProviderContext, an SNS signer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from signalcraft_ingest.domain.providers.base import Integration, WebhookRequest
from functools import partial

from sns_signing import FakeContext as SharedFakeContext
from sns_signing import SnsSigner

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_request(body: bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None,
                 query: Mapping[str, str] | None = None, received_at: datetime = RECEIVED_AT) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(body=raw, headers={k.lower(): v for k, v in (headers or {}).items()},
                          query=dict(query or {}), received_at=received_at)


def make_integration(provider: str, secret: str = "s3cret", **options: str) -> Integration:
    return Integration(integration_id=f"int-{provider}", workspace_id="ws-1", provider=provider, secret=secret,
                       options=options, name=provider)


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


SnsKey = SnsSigner
SNS_KEY = SnsSigner()


# Serves this signer's certificate unless given another `pem`.
FakeContext = partial(SharedFakeContext, pem=SNS_KEY.pem)
