"""Amazon SNS message signatures: the string to sign, the URL policy for SNS hosts, and the RSA check
given the signing certificate. See shared/fixtures/SIGNATURES.md, "AWS CloudWatch alarm -> Amazon SNS".

`Signature` is base64 RSA over the string-to-sign (`Name\\nValue\\n` for a fixed set of fields in byte
order), SHA1withRSA for SignatureVersion "1", SHA256withRSA for "2", with the public key of the X.509
certificate at `SigningCertURL`; the certificate must be valid at the time the request was received.
Fetching the certificate is I/O and lives in adapters/sns.py, which applies `check_https_url` too.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import AuthenticationFailed

DEFAULT_CERT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
# Fields in the string to sign, already in byte order; "Subject" only when present.
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE_CONFIRMATION: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL_SIGNED_FIELDS = {"Subject"}
SIGNATURE_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_SIGNATURE_LENGTH = 4096


@dataclass(frozen=True)
class SnsSignature:
    """What a message's signature check needs besides the certificate."""

    algorithm: hashes.HashAlgorithm
    signature: bytes
    signed: bytes


def message_type(message: Mapping[str, Any]) -> str | None:
    """The SNS Type if it is one we know, else None."""
    value = message.get("Type")
    return value if isinstance(value, str) and value in SIGNED_FIELDS else None


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """SNS's canonical string: "Name\\nValue\\n" for each signed field of the message's Type, in order."""
    kind = message.get("Type")
    fields = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise AuthenticationFailed(f"cannot verify an SNS message of Type {kind!r}")
    parts: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name in OPTIONAL_SIGNED_FIELDS:
            continue
        if not isinstance(value, str):
            raise AuthenticationFailed(f"SNS message: signed field {name!r} missing or not a string")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()
def check_https_url(url: str, host_pattern: re.Pattern[str], what: str, require_pem: bool) -> str:
    """The SNS URL policy: https, no credentials, an allowed host, a .pem path when asked. SNS's URLs
    are plain ASCII: whitespace or a control character (which urlsplit lets through, and the HTTP
    client then refuses) makes it no URL of SNS's."""
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise AuthenticationFailed(f"{what} is not a valid URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise AuthenticationFailed(f"{what} is not a valid URL") from None
    if parts.scheme != "https":
        raise AuthenticationFailed(f"{what} must be https")
    if parts.username is not None or parts.password is not None or not host:
        raise AuthenticationFailed(f"{what} has no host or carries credentials")
    if not host_pattern.search(host):
        raise AuthenticationFailed(f"{what} host {host!r} is not an allowed SNS host")
    if require_pem and not parts.path.endswith(".pem"):
        raise AuthenticationFailed(f"{what} does not name a .pem certificate")
    return url



def sns_signature(message: Mapping[str, Any]) -> SnsSignature:
    """The message's signature and signed bytes, or AuthenticationFailed: everything checkable before a fetch."""
    version = message.get("SignatureVersion")
    algorithm = SIGNATURE_HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise AuthenticationFailed(f"unsupported SNS SignatureVersion {version!r}")
    signature_text = message.get("Signature")
    if not isinstance(signature_text, str) or not signature_text:
        raise AuthenticationFailed("SNS message: missing Signature")
    if len(signature_text) > MAX_SIGNATURE_LENGTH:
        raise AuthenticationFailed("SNS Signature is too long")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("SNS Signature is not valid base64") from None
    return SnsSignature(algorithm(), signature, string_to_sign(message))


def verify_sns_signature(pem: bytes, signature: SnsSignature, received_at: datetime) -> None:
    """The signature checks out with the certificate's RSA key, and the certificate was valid on receipt."""
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise AuthenticationFailed("SigningCertURL did not return a PEM certificate") from None
    if not certificate.not_valid_before_utc <= received_at <= certificate.not_valid_after_utc:
        raise AuthenticationFailed("SNS signing certificate is not valid at the time of receipt")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise AuthenticationFailed("SNS signing certificate does not hold an RSA key")
    try:
        public_key.verify(signature.signature, signature.signed, padding.PKCS1v15(), signature.algorithm)
    except InvalidSignature:
        raise AuthenticationFailed("SNS Signature does not match") from None
