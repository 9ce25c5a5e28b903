"""Test doubles for Amazon SNS, shared by the unit, contract and end-to-end suites.

`SnsSigner` is a local RSA key with a self-signed certificate standing in for SNS's signing
certificate: it signs envelopes exactly as SNS does (SHA1withRSA for SignatureVersion 1,
SHA256withRSA for 2, over the provider's own string-to-sign). `FakeContext` is a ProviderContext that
serves one PEM for every certificate URL and records the URLs asked for.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from signalcraft_ingest.domain.sns_verification import string_to_sign


class SnsSigner:
    def __init__(self, not_before: datetime = datetime(2000, 1, 1, tzinfo=UTC),
                 not_after: datetime = datetime(2100, 1, 1, tzinfo=UTC)) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: Mapping[str, Any], version: str = "1") -> dict[str, Any]:
        """The message with SignatureVersion and a base64 Signature over its string-to-sign."""
        signed = {**message, "SignatureVersion": version}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signed["Signature"] = base64.b64encode(self.key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)).decode()
        return signed


@dataclass
class FakeContext:
    pem: bytes
    fetched: list[str] = field(default_factory=list)

    async def fetch_certificate(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem
