"""Proving a webhook comes from its integration: HMAC signatures, shared secrets, Authorization headers.

Pure checks over what arrived and the integration's secret; each raises AuthenticationFailed with a
reason the sender can act on. Comparisons are constant-time. Which check a provider applies, and
with which header, is the provider's `authenticate` step; SNS signatures are in sns_verification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import datetime

from .errors import AuthenticationFailed

UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_hex_signature(received: str | None, secret: str, message: bytes, what: str) -> None:
    """Constant-time comparison of a lower-case hex HMAC-SHA256; AuthenticationFailed otherwise."""
    if not received:
        raise AuthenticationFailed(f"missing {what}")
    expected = hmac_sha256_hex(secret, message)
    if not hmac.compare_digest(expected.encode(), received.strip().lower().encode()):
        raise AuthenticationFailed(f"{what} does not match")


def verify_shared_secret(received: str | None, secret: str, what: str) -> None:
    if not received:
        raise AuthenticationFailed(f"missing {what}")
    if not hmac.compare_digest(received.encode(), secret.encode()):
        raise AuthenticationFailed(f"{what} does not match")


def verify_authorization(header: str | None, secret: str, mode: str) -> None:
    """Check an `Authorization` header for mode "bearer" or "basic" against the secret, in constant time.

    Shared by the senders whose only credential is an HTTP Authorization header (Alertmanager,
    Grafana, Datadog). For "basic" the secret is "user:pass" and the whole decoded pair is compared.
    """
    if not header:
        raise AuthenticationFailed("missing Authorization header")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if mode == "bearer":
        if scheme.lower() != "bearer" or not credentials:
            raise AuthenticationFailed("Authorization header is not 'Bearer <token>'")
        presented = credentials.encode()
    elif mode == "basic":
        if scheme.lower() != "basic" or not credentials:
            raise AuthenticationFailed("Authorization header is not 'Basic <base64(user:pass)>'")
        try:
            presented = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            raise AuthenticationFailed("Authorization Basic credentials are not valid base64") from None
    else:
        raise AuthenticationFailed(f"integration auth mode {mode!r} is not supported here")
    if not hmac.compare_digest(presented, secret.encode()):
        raise AuthenticationFailed("Authorization credentials do not match")


def unix_timestamp(value: str | None, what: str) -> str:
    """A signing timestamp header's value, stripped, as sent (it is part of the signed message);
    AuthenticationFailed unless it is Unix seconds."""
    timestamp = (value or "").strip()
    if not timestamp:
        raise AuthenticationFailed(f"missing {what}")
    if not UNIX_SECONDS.fullmatch(timestamp):
        raise AuthenticationFailed(f"{what} is not Unix seconds")
    return timestamp


def verify_freshness(timestamp: str, received_at: datetime, max_skew: int, what: str) -> None:
    """A signed timestamp must be within `max_skew` seconds of receipt, so an old request cannot be replayed."""
    skew = abs(received_at.timestamp() - int(timestamp))
    if skew > max_skew:
        raise AuthenticationFailed(f"{what} is {int(skew)} s away from now (limit {max_skew} s)")


def signed_digest(message: bytes) -> str:
    """What a replay of a signed message is recognised by: the SHA-256 of exactly what was signed.

    For senders whose signature covers the body but nothing fresh (Sentry: the body only, its
    Request-ID is unsigned; Grafana without a timestamp header), so a captured request can be sent
    again with any new id. The handler refuses the same digest again within the replay window."""
    return "sha256:" + hashlib.sha256(message).hexdigest()



def accepted_secrets(current: str, previous: str | None, previous_valid_until: datetime | None,
                     received_at: datetime) -> list[str]:
    """The secrets a webhook received at `received_at` may prove itself with: the current one, and
    the one it replaced while that one's grace period lasts (a rotation does not cut senders off)."""
    if previous and previous_valid_until is not None and received_at < previous_valid_until:
        return [current, previous]
    return [current]
