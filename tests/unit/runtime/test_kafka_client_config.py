"""The Kafka client options every client connects with, for each security protocol and SASL mechanism,
and the errors that stop a service whose Kafka settings cannot work."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from signalcraft_runtime.kafka_client import (
    KafkaSettingsError, TokenFileProvider, faststream_broker_options, kafka_client_options,
)
from signalcraft_runtime.settings import KafkaSettings, ServiceSettings

KAFKA_ENV = ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD", "SASL_OAUTH_TOKEN_FILE",
             "SSL_CA_FILE", "SSL_CERT_FILE", "SSL_KEY_FILE", "CLIENT_ID", "BOOTSTRAP_SERVERS")


@pytest.fixture(autouse=True)
def no_kafka_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the machine's SIGNALCRAFT_KAFKA_* must not leak in."""
    for name in KAFKA_ENV:
        monkeypatch.delenv(f"SIGNALCRAFT_KAFKA_{name}", raising=False)


def _write_pem(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    cert_file, key_file = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
                 ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a client certificate it signed with its key, and a key of another pair."""
    root = tmp_path_factory.mktemp("pki")
    ca_key, client_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_file, _ = _write_pem(root / "ca", ca_key, _certificate("test-ca", ca_key, "test-ca", ca_key, ca=True))
    cert_file, key_file = _write_pem(root / "client", client_key,
                                     _certificate("signalcraft", client_key, "test-ca", ca_key, ca=False))
    _, other_key_file = _write_pem(root / "other", other_key,
                                   _certificate("other", other_key, "other", other_key, ca=True))
    return {"ca": ca_file, "cert": cert_file, "key": key_file, "other_key": other_key_file}


def settings(**values: Any) -> KafkaSettings:
    return KafkaSettings(kafka_bootstrap_servers="b-1.kafka.example:9096,b-2.kafka.example:9096", **values)


async def assert_every_client_accepts(options: dict[str, Any]) -> None:
    """aiokafka checks protocol, mechanism, credentials and TLS context when a client is built, and
    FastStream's broker hands its consumers exactly these options."""
    producer = AIOKafkaProducer(**options, enable_idempotence=False)
    consumer = AIOKafkaConsumer(**options, group_id=None)
    AIOKafkaAdminClient(**options)
    await producer.stop()
    await consumer.stop()
    broker = KafkaBroker(**faststream_broker_options(options), consumer_only=True)
    consumer_options = {"security_protocol": "PLAINTEXT", **broker.config.broker_config.builder.keywords}
    for key, value in options.items():
        expected = [value] if key == "bootstrap_servers" else value
        assert consumer_options[key] == expected, key


async def test_plaintext_by_default() -> None:
    options = kafka_client_options(settings(), "router")
    assert options == {"bootstrap_servers": "b-1.kafka.example:9096,b-2.kafka.example:9096",
                       "client_id": "signalcraft-router", "security_protocol": "PLAINTEXT"}
    await assert_every_client_accepts(options)


def test_client_id_prefix() -> None:
    assert kafka_client_options(settings(kafka_client_id="team-a-signalcraft"), "notifier-relay")["client_id"] \
        == "team-a-signalcraft-notifier-relay"


async def test_ssl_verifies_brokers_against_the_ca_file(pki: dict[str, Path]) -> None:
    options = kafka_client_options(settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"]), "ingest")
    context = options["ssl_context"]
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(c["subject"][0])["commonName"] for c in context.get_ca_certs()] == ["test-ca"]
    await assert_every_client_accepts(options)


def test_ssl_without_a_ca_file_trusts_the_system_cas() -> None:
    context = kafka_client_options(settings(kafka_security_protocol="SSL"), "ingest")["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def test_mutual_tls_loads_the_client_certificate(pki: dict[str, Path]) -> None:
    options = kafka_client_options(settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki["ca"],
                                            kafka_ssl_cert_file=pki["cert"], kafka_ssl_key_file=pki["key"]), "ingest")
    await assert_every_client_accepts(options)


def test_a_key_that_is_not_the_certificates_is_refused(pki: dict[str, Path]) -> None:
    with pytest.raises(KafkaSettingsError, match="cannot be loaded"):
        kafka_client_options(settings(kafka_security_protocol="SSL", kafka_ssl_cert_file=pki["cert"],
                                      kafka_ssl_key_file=pki["other_key"]), "ingest")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_sasl_with_username_and_password(protocol: str, mechanism: str) -> None:
    options = kafka_client_options(settings(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism,
                                            kafka_sasl_username="signalcraft", kafka_sasl_password="s3cret"),
                                   "grouping")
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("signalcraft", "s3cret")
    assert ("ssl_context" in options) == (protocol == "SASL_SSL")
    await assert_every_client_accepts(options)


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_oauthbearer_reads_the_token_file_at_every_authentication(tmp_path: Path, protocol: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    options = kafka_client_options(settings(kafka_security_protocol=protocol, kafka_sasl_mechanism="OAUTHBEARER",
                                            kafka_sasl_oauth_token_file=token_file), "escalator")
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert "sasl_plain_username" not in options and "sasl_plain_password" not in options
    provider = options["sasl_oauth_token_provider"]
    assert isinstance(provider, TokenFileProvider)
    assert await provider.token() == "first-token"
    token_file.write_text("renewed-token")  # whatever renews the token rewrote the file
    assert await provider.token() == "renewed-token"
    await assert_every_client_accepts(options)


async def test_an_emptied_token_file_is_an_error_naming_it(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("")
    with pytest.raises(ValueError, match="SIGNALCRAFT_KAFKA_SASL_OAUTH_TOKEN_FILE .* is empty"):
        await TokenFileProvider(token_file).token()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> None:
    for name, value in {"BOOTSTRAP_SERVERS": "kafka:9096", "SECURITY_PROTOCOL": "sasl_ssl",
                        "SASL_MECHANISM": "scram-sha-512", "SASL_USERNAME": "svc", "SASL_PASSWORD": "pw",
                        "SSL_CA_FILE": str(pki["ca"]), "CLIENT_ID": "sc"}.items():
        monkeypatch.setenv(f"SIGNALCRAFT_KAFKA_{name}", value)
    monkeypatch.setenv("SIGNALCRAFT_KAFKA_SSL_CERT_FILE", "")  # a template that always sets it: unset
    loaded = ServiceSettings()
    assert loaded.kafka_security_protocol == "SASL_SSL" and loaded.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert loaded.kafka_ssl_cert_file is None
    assert "pw" not in repr(loaded)
    options = kafka_client_options(loaded, "query-api")
    assert options["client_id"] == "sc-query-api" and options["sasl_plain_password"] == "pw"


def test_topic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (ServiceSettings().create_topics, ServiceSettings().topic_replication_factor) == (True, 1)
    monkeypatch.setenv("SIGNALCRAFT_CREATE_TOPICS", "false")
    monkeypatch.setenv("SIGNALCRAFT_TOPIC_REPLICATION_FACTOR", "3")
    assert (ServiceSettings().create_topics, ServiceSettings().topic_replication_factor) == (False, 3)
    monkeypatch.setenv("SIGNALCRAFT_TOPIC_REPLICATION_FACTOR", "0")
    with pytest.raises(ValidationError, match="topic_replication_factor"):
        ServiceSettings()


@pytest.mark.parametrize("variable, value", [
    ("SASL_MECHANISM", "GSSAPI"), ("SASL_MECHANISM", "SCRAM-SHA-1"), ("SECURITY_PROTOCOL", "TLS"),
])
def test_unknown_protocols_and_mechanisms_are_refused_naming_the_choices(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(f"SIGNALCRAFT_KAFKA_{variable}", value)
    with pytest.raises(ValidationError, match=f"kafka_{variable.lower()}") as error:
        KafkaSettings()
    assert "SCRAM-SHA-512" in str(error.value) or "SASL_SSL" in str(error.value)


TOKEN = Path(__file__)  # any readable file


@pytest.mark.parametrize("values, message", [
    ({"kafka_security_protocol": "SASL_SSL"}, "SECURITY_PROTOCOL=SASL_SSL needs SIGNALCRAFT_KAFKA_SASL_MECHANISM"),
    ({"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u", "kafka_sasl_password": "p"},
     "SASL_MECHANISM=PLAIN is set but SIGNALCRAFT_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_password": "p"},
     "SASL_MECHANISM=SCRAM-SHA-512 needs SIGNALCRAFT_KAFKA_SASL_USERNAME"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u"},
     "SASL_MECHANISM=PLAIN needs SIGNALCRAFT_KAFKA_SASL_PASSWORD"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-256", "kafka_sasl_username": "u",
      "kafka_sasl_password": ""}, "SASL_MECHANISM=SCRAM-SHA-256 needs SIGNALCRAFT_KAFKA_SASL_PASSWORD"),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": "p"},
     "SASL_USERNAME / _PASSWORD are set but SIGNALCRAFT_KAFKA_SASL_MECHANISM=\\(unset\\) does not use them"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
     "OAUTHBEARER needs SIGNALCRAFT_KAFKA_SASL_OAUTH_TOKEN_FILE"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER",
      "kafka_sasl_oauth_token_file": "/nonexistent/token"}, "OAUTH_TOKEN_FILE /nonexistent/token is not a readable"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER", "kafka_sasl_oauth_token_file": TOKEN,
      "kafka_sasl_username": "u"}, "SASL_MECHANISM=OAUTHBEARER does not use them"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
      "kafka_sasl_password": "p", "kafka_sasl_oauth_token_file": TOKEN}, "OAUTH_TOKEN_FILE is set but .*PLAIN does not"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": TOKEN}, "SSL_CERT_FILE needs SIGNALCRAFT_KAFKA_SSL_KEY_FILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_key_file": TOKEN}, "SSL_KEY_FILE needs SIGNALCRAFT_KAFKA_SSL_CERT_FILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"},
     "SSL_CA_FILE /nonexistent/ca.pem is not a readable file"),
    ({"kafka_ssl_ca_file": TOKEN}, "SSL_CA_FILE set but SIGNALCRAFT_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u",
      "kafka_sasl_password": "p", "kafka_ssl_ca_file": TOKEN}, "SASL_PLAINTEXT does not use TLS: use SSL or SASL_SSL"),
    ({"kafka_client_id": " "}, "SIGNALCRAFT_KAFKA_CLIENT_ID is empty"),
])
def test_settings_that_cannot_work_stop_the_service_naming_the_variable(values: dict[str, Any], message: str) -> None:
    with pytest.raises(KafkaSettingsError, match=message):
        kafka_client_options(settings(**values), "ingest")


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(KafkaSettingsError) as error:
        kafka_client_options(settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                                      kafka_ssl_cert_file=TOKEN), "ingest")
    assert [p.split(" needs ")[1].split(" ")[0] for p in error.value.problems] == [
        "SIGNALCRAFT_KAFKA_SASL_USERNAME", "SIGNALCRAFT_KAFKA_SASL_PASSWORD", "SIGNALCRAFT_KAFKA_SSL_KEY_FILE"]
    assert "docs/kafka.md" in str(error.value)
