"""A stand-in for SNS's HTTPS endpoints on loopback, for the CloudWatch/SNS end-to-end test.

`LocalCa` makes a CA and a server certificate for 127.0.0.1 (ingest trusts the CA through
SIGNALCRAFT_SNS_CA_BUNDLE). `LocalHttpsServer` serves the SNS signing certificate (a `.pem` path)
and answers SubscribeURL confirmations, over real TLS, recording every GET. The signing certificate
and the envelope signatures come from tests/sns_signing.py.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SignalCraft e2e"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class LocalCa:
    """A throwaway CA and a TLS server certificate it issued for 127.0.0.1, written under `directory`."""

    def __init__(self, directory: Path) -> None:
        now = datetime.now(UTC)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = _name("SignalCraft e2e test CA")
        ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server = (
            x509.CertificateBuilder().subject_name(_name(LOOPBACK)).issuer_name(ca_name)
            .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(_pem(ca))
        self.cert_file = directory / "server.pem"
        self.cert_file.write_bytes(_pem(server))
        self.key_file = directory / "server.key"
        self.key_file.write_bytes(server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.key_file.chmod(0o600)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass(frozen=True)
class Hit:
    path: str
    query: Mapping[str, list[str]]
    user_agent: str


class LocalHttpsServer:
    """HTTPS on 127.0.0.1: GET <pem_path> -> the PEM; GET /?Action=ConfirmSubscription... -> 200 XML."""

    def __init__(self, ca: LocalCa, pem_path: str, pem: bytes) -> None:
        self.hits: list[Hit] = []
        hits, lock = self.hits, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                with lock:
                    hits.append(Hit(parts.path, parse_qs(parts.query), self.headers.get("user-agent", "")))
                query = parse_qs(parts.query)
                if parts.path == pem_path:
                    self._answer(200, pem, "application/x-x509-ca-cert")
                elif parts.path == "/" and query.get("Action") == ["ConfirmSubscription"]:
                    arn = f"{query.get('TopicArn', [''])[0]}:e2e-subscription"
                    self._answer(200, (
                        '<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                        f"<ConfirmSubscriptionResult><SubscriptionArn>{arn}</SubscriptionArn>"
                        "</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>").encode(), "text/xml")
                else:
                    self._answer(404, b"not found", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = ca.server_context().wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.base_url = f"https://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-https", daemon=True)

    def start(self) -> "LocalHttpsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits_on(self, path: str) -> list[Hit]:
        return [hit for hit in list(self.hits) if hit.path == path]
