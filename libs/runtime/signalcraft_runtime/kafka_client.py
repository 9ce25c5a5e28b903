"""How SignalCraft's Kafka clients connect: one function turns the settings into their options.

Every client takes what `kafka_client_options` returns: FastStream's broker (through
`faststream_broker_options`, which only re-spells the same options), the outbox relay's producer,
the config view's consumers and the admin client that checks the topics. None builds its own.
The settings are checked there, when a service is assembled, so a wrong combination stops the
service at start with every problem named by its environment variable (see docs/kafka.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from ssl import SSLContext, SSLError
from typing import Any

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity, SASLOAuthBearer, SASLPlaintext, SASLScram256, SASLScram512,
)

from .settings import KafkaSettings

TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

ENV = "SIGNALCRAFT_"


class KafkaSettingsError(ValueError):
    """The Kafka settings cannot work together; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Kafka settings:\n" + "\n".join(f"  - {p}" for p in problems) + "\nSee docs/kafka.md.")


class TokenFileProvider(AbstractTokenProvider):
    """OAUTHBEARER token read from a file at every authentication (aiokafka asks once per connection).

    Whatever renews the file (a sidecar, a projected service-account token, a cron job) renews the
    token without a restart; obtaining the token is that tool's job, not SignalCraft's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        token = text.strip()
        if not token:
            raise ValueError(f"{ENV}KAFKA_SASL_OAUTH_TOKEN_FILE {self.path} is empty")
        return token


def settings_problems(settings: KafkaSettings) -> list[str]:
    """What is wrong with the Kafka settings, as sentences naming the variables; empty when they work."""
    problems: list[str] = []
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    uses_sasl, uses_tls = protocol in SASL_PROTOCOLS, protocol in TLS_PROTOCOLS
    if not settings.kafka_bootstrap_servers.strip():
        problems.append(f"{ENV}KAFKA_BOOTSTRAP_SERVERS is empty")
    if not settings.kafka_client_id.strip():
        problems.append(f"{ENV}KAFKA_CLIENT_ID is empty")

    if uses_sasl and mechanism is None:
        problems.append(f"{ENV}KAFKA_SECURITY_PROTOCOL={protocol} needs {ENV}KAFKA_SASL_MECHANISM "
                        f"({', '.join((*PASSWORD_MECHANISMS, 'OAUTHBEARER'))})")
    if not uses_sasl and mechanism is not None:
        problems.append(f"{ENV}KAFKA_SASL_MECHANISM={mechanism} is set but {ENV}KAFKA_SECURITY_PROTOCOL={protocol} "
                        "does not use SASL: use SASL_SSL (or SASL_PLAINTEXT)")
    if mechanism in PASSWORD_MECHANISMS:
        if not settings.kafka_sasl_username:
            problems.append(f"{ENV}KAFKA_SASL_MECHANISM={mechanism} needs {ENV}KAFKA_SASL_USERNAME")
        if settings.kafka_sasl_password is None or not settings.kafka_sasl_password.get_secret_value():
            problems.append(f"{ENV}KAFKA_SASL_MECHANISM={mechanism} needs {ENV}KAFKA_SASL_PASSWORD")
    elif settings.kafka_sasl_username is not None or settings.kafka_sasl_password is not None:
        problems.append(f"{ENV}KAFKA_SASL_USERNAME / _PASSWORD are set but {ENV}KAFKA_SASL_MECHANISM="
                        f"{mechanism or '(unset)'} does not use them: PLAIN and SCRAM-SHA-256/512 do")
    token_file = settings.kafka_sasl_oauth_token_file
    if mechanism == "OAUTHBEARER":
        if token_file is None:
            problems.append(f"{ENV}KAFKA_SASL_MECHANISM=OAUTHBEARER needs {ENV}KAFKA_SASL_OAUTH_TOKEN_FILE")
        elif not token_file.is_file():
            problems.append(f"{ENV}KAFKA_SASL_OAUTH_TOKEN_FILE {token_file} is not a readable file")
    elif token_file is not None:
        problems.append(f"{ENV}KAFKA_SASL_OAUTH_TOKEN_FILE is set but {ENV}KAFKA_SASL_MECHANISM="
                        f"{mechanism or '(unset)'} does not use it: OAUTHBEARER does")

    tls_files = {"CA": settings.kafka_ssl_ca_file, "CERT": settings.kafka_ssl_cert_file,
                 "KEY": settings.kafka_ssl_key_file}
    if not uses_tls and any(tls_files.values()):
        given = ", ".join(f"{ENV}KAFKA_SSL_{name}_FILE" for name, path in tls_files.items() if path)
        problems.append(f"{given} set but {ENV}KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: use SSL or SASL_SSL")
    if tls_files["CERT"] and not tls_files["KEY"]:
        problems.append(f"{ENV}KAFKA_SSL_CERT_FILE needs {ENV}KAFKA_SSL_KEY_FILE (the client certificate's key)")
    if tls_files["KEY"] and not tls_files["CERT"]:
        problems.append(f"{ENV}KAFKA_SSL_KEY_FILE needs {ENV}KAFKA_SSL_CERT_FILE (the certificate of that key)")
    for name, path in tls_files.items():
        if path is not None and not path.is_file():
            problems.append(f"{ENV}KAFKA_SSL_{name}_FILE {path} is not a readable file")
    return problems


def _ssl_context(settings: KafkaSettings) -> SSLContext:
    """Verifies the brokers' certificates and host names (against the CA file, else the system's CAs)."""
    try:
        return create_ssl_context(cafile=settings.kafka_ssl_ca_file, certfile=settings.kafka_ssl_cert_file,
                                  keyfile=settings.kafka_ssl_key_file)
    except (SSLError, ValueError) as exc:
        raise KafkaSettingsError([f"TLS files ({ENV}KAFKA_SSL_CA_FILE / _CERT_FILE / _KEY_FILE) cannot be "
                                  f"loaded: {exc}"]) from exc


def kafka_client_options(settings: KafkaSettings, client: str) -> dict[str, Any]:
    """The connection options of one Kafka client (aiokafka keyword arguments), with client id
    `<SIGNALCRAFT_KAFKA_CLIENT_ID>-<client>`. Raises `KafkaSettingsError` on settings that cannot work."""
    problems = settings_problems(settings)
    if problems:
        raise KafkaSettingsError(problems)
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.kafka_client_id}-{client}",
        "security_protocol": protocol,
    }
    if protocol in TLS_PROTOCOLS:
        options["ssl_context"] = _ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            assert settings.kafka_sasl_oauth_token_file is not None
            options["sasl_oauth_token_provider"] = TokenFileProvider(settings.kafka_sasl_oauth_token_file)
        else:
            assert settings.kafka_sasl_password is not None
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


_SASL_SECURITY = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def faststream_broker_options(options: dict[str, Any]) -> dict[str, Any]:
    """The same options as FastStream's `KafkaBroker` takes them: TLS and SASL go in a `security` object,
    which FastStream turns back into the aiokafka options above."""
    ssl_context = options.get("ssl_context")
    use_ssl = options["security_protocol"] in TLS_PROTOCOLS
    mechanism = options.get("sasl_mechanism")
    security: BaseSecurity | None = None
    if mechanism == "OAUTHBEARER":
        security = SASLOAuthBearer(ssl_context=ssl_context, use_ssl=use_ssl)
    elif mechanism is not None:
        security = _SASL_SECURITY[mechanism](options["sasl_plain_username"], options["sasl_plain_password"],
                                             ssl_context=ssl_context, use_ssl=use_ssl)
    elif use_ssl:
        security = BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    broker_options: dict[str, Any] = {"bootstrap_servers": options["bootstrap_servers"],
                                      "client_id": options["client_id"], "security": security}
    if "sasl_oauth_token_provider" in options:
        broker_options["sasl_oauth_token_provider"] = options["sasl_oauth_token_provider"]
    return broker_options
