"""The seam every provider implements: authenticate, then parse into NormalizedAlerts.

A provider is one module with one `Provider` object. The two steps stay apart: `authenticate` proves
the sender (with the checks in domain/verification.py and domain/sns_verification.py), `parse` reads
the payload. A provider does no I/O of its own: what it needs from outside (a certificate, a
subscription confirmation) comes through `ProviderContext`, which adapters/sns.py supplies and tests
replace. A new source is one module plus its fixtures; helpers shared by providers are in common.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from signalcraft_schemas import NormalizedAlert

from ..errors import MalformedPayload


@dataclass(frozen=True)
class WebhookRequest:
    """What arrived, before any parsing. Header names are lower-case."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, or MalformedPayload with the parser's reason."""
        if not self.body.strip():
            raise MalformedPayload("empty body")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise MalformedPayload(f"body is not valid JSON: {exc}") from None


@dataclass(frozen=True)
class Integration:
    """One configured source: whose it is, and the secret it authenticates with (decrypted)."""

    integration_id: str
    workspace_id: str
    provider: str
    secret: str
    options: Mapping[str, str] = field(default_factory=dict)
    name: str = ""
    # The secret before the last rotation, accepted until `previous_secret_valid_until` (verification.py).
    previous_secret: str | None = None
    previous_secret_valid_until: datetime | None = None


@dataclass(frozen=True)
class SideEffect:
    """Something the handler must have done for the provider, e.g. confirm an SNS subscription."""

    kind: str
    url: str
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedWebhook:
    alerts: list[NormalizedAlert]
    # Identifies this delivery for replay protection: the provider's delivery id, else None (every
    # delivery is new). A repeat of a known key is answered 2xx and not processed again.
    delivery_key: str | None = None
    side_effects: list[SideEffect] = field(default_factory=list)
    # A provider-specific 2xx body (PagerDuty's {"status":"success",...}); None -> our default.
    response_body: Mapping[str, Any] | None = None
    note: str | None = None
    # Replay protection where the signature covers the body but nothing fresh (no signed timestamp
    # or delivery id): a digest of what was signed. The same signed message again within the replay
    # window is a replay, answered as a duplicate and not stored (verification.signed_digest).
    replay_key: str | None = None
    # The body as it is stored: the request's, unless it carries a secret (PagerDuty's routing_key),
    # which is redacted first. None -> the request's body.
    stored_body: bytes | None = None


class ProviderContext(Protocol):
    """I/O a provider may ask for. Implemented in adapters/sns.py (and in tests)."""

    def fetch_certificate(self, url: str) -> Awaitable[bytes]: ...


class Provider(Protocol):
    name: str

    async def authenticate(self, request: WebhookRequest, integration: Integration, context: ProviderContext) -> None:
        """Raise AuthenticationFailed unless the request is proven to come from this integration."""

    def parse(self, request: WebhookRequest, integration: Integration) -> ParsedWebhook:
        """Pure: the request's alerts, or MalformedPayload / UnsupportedPayload with a reason."""

    def error_body(self, status: int, reason: str) -> Mapping[str, Any] | None:
        """A provider-specific error body (PagerDuty's shape); None -> our default {"error": reason}."""

