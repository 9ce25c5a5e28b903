"""OIDC/JWT bearer tokens from a gateway or the frontend's identity provider: signature checked with
the issuer's keys (fetched from SIGNALCRAFT_OIDC_JWKS_URL and cached), issuer, audience and expiry
checked, then the claims say who it is (domain/identity.oidc_identity)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
JWKS_CACHE_SECONDS = 300
# A little slack for clocks that disagree between the issuer and us.
LEEWAY_SECONDS = 30


class InvalidJwt(Exception):
    """Refused: bad signature, unknown key id, wrong issuer or audience, expired (401)."""


@dataclass
class OidcVerifier:
    issuer: str
    audience: str
    jwks_url: str

    def __post_init__(self) -> None:
        self._keys = jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=10)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            return jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                              leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud"]})
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise InvalidJwt(str(exc) or type(exc).__name__) from None

    async def claims(self, token: str) -> dict[str, Any]:
        # PyJWKClient fetches the JWKS with blocking urllib: off the event loop.
        return await asyncio.to_thread(self._verify, token)


def oidc_verifier(issuer: str, audience: str, jwks_url: str) -> OidcVerifier | None:
    """None (JWTs refused) unless all three settings are given."""
    if not (issuer and audience and jwks_url):
        return None
    return OidcVerifier(issuer, audience, jwks_url)


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
