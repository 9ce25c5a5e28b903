"""Settings from the environment (prefix SIGNALCRAFT_), built once in each service's `main`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettings(BaseSettings):
    """How every Kafka client connects (`kafka_client.kafka_client_options` checks them and builds the
    clients' options). See docs/kafka.md."""

    model_config = SettingsConfigDict(env_prefix="SIGNALCRAFT_", extra="ignore")

    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka (or Tansu) bootstrap servers")
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)")
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; required with SASL_*")
    kafka_sasl_username: str | None = Field(default=None, description="PLAIN and SCRAM")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="PLAIN and SCRAM")
    kafka_sasl_oauth_token_file: Path | None = Field(
        default=None, description="OAUTHBEARER: a file holding the token, read again at every authentication")
    kafka_ssl_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers' certificates; unset = the system's CAs")
    kafka_ssl_cert_file: Path | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    kafka_ssl_key_file: Path | None = Field(default=None, description="PEM private key of the client certificate")
    kafka_client_id: str = Field(
        default="signalcraft", description="Prefix of every client id (<prefix>-<service>[-relay|-config|-admin])")

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        """`sasl_ssl` and `scram-sha-512` mean what their upper-case spelling does."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password", "kafka_sasl_oauth_token_file",
                     "kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """A variable set to "" (a template that always sets it) means unset, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value


class ServiceSettings(KafkaSettings):
    """Shared by every service. Each field is `SIGNALCRAFT_<NAME>` in the environment."""

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/signalcraft",
        description="PostgreSQL; each service keeps its tables in its own schema",
    )
    http_host: str = Field(default="127.0.0.1", description="0.0.0.0 in containers")
    http_port: int = Field(default=8000, description="Health, metrics and the service's API (defaults differ per service)")
    secret_key: str = Field(default="", description="Fernet key that encrypts integration secrets at rest")
    log_level: str = Field(default="INFO", description="Python log level")
    log_format: str = Field(default="json", description="json or console")
    otlp_endpoint: str | None = Field(default=None, description="OTLP gRPC endpoint; unset = no export")
    topic_partitions: int = Field(default=8, ge=1, description="Partitions per topic when a service creates them; the scaling limit per consumer group")
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas per topic when a service creates them (3 on a production cluster)")
    create_topics: bool = Field(
        default=True, description="Create missing topics at start; false where topics are provisioned beforehand. "
        "Either way a service refuses to start while a topic is missing")
    # Consumer group membership: lower in dev/tests so a restarted consumer rejoins quickly.
    consumer_session_timeout_ms: int = Field(default=10_000, description="A consumer that dies is replaced after this long")
    consumer_heartbeat_interval_ms: int = Field(default=3_000, description="A third of the session timeout or less")
    consumer_max_records: int = Field(default=500, description="Records per polled batch, processed in one transaction")
    # Consumers on the alert path (webhook -> Slack: grouping, router, notifier) fetch with short waits;
    # the others (read models, escalation timers) with long ones. Tansu (0.6) does not answer a fetch
    # when data arrives: it reads the partitions' storage at once, then again after half the remaining
    # wait (all of it under 250 ms), and after a read that found data it still sleeps that long. So a
    # record waits up to about its consumer's fetch wait per hop (measured: 20-60 ms at 100 ms, 1.2-2.1 s
    # at 5 s), and each fetching consumer costs Tansu CPU in proportion to its reads per second (about
    # 20/s at 100 ms, 5/s at 1 s). Apache Kafka answers as soon as data arrives. bench/README.md,
    # "Idle and low-load levers (issue 13)", has the figures.
    consumer_fetch_max_wait_ms: int = Field(
        default=100, ge=1, description="Alert-path consumers: the broker answers a fetch once it has "
        "consumer_fetch_min_bytes or after this long (Tansu: only then)")
    consumer_background_fetch_max_wait_ms: int = Field(
        default=1000, ge=1, description="Consumers off the alert path (query-api's read models, the escalator): "
        "the same, longer, so an idle one fetches less often")
    consumer_fetch_min_bytes: int = Field(default=1, description="The broker answers a fetch once it has this much...")
    # A batch poll returns as soon as records arrive and, finding none, after this long, then polls
    # again at once (consumer.poll_without_pause): not a delay, only how often an idle loop turns.
    consumer_batch_timeout_ms: int = Field(default=500, description="How long an alert-path consumer's batch poll "
                                           "waits for records before it starts over")
    consumer_background_batch_timeout_ms: int = Field(
        default=1000, description="The same for consumers off the alert path")
    consumer_background_batch_interval_ms: int = Field(
        default=500, ge=0, description="Consumers off the alert path start a batch at most this often: under "
        "load each batch takes what arrived meanwhile, so they fetch and commit a few times a second")
    # aiokafka's fetcher wakes this often while a fetch is in flight (its consumer_timeout_ms); a fetch's
    # answer wakes it at once, so this does not delay records. Lower only costs idle CPU.
    consumer_poll_interval_ms: int = Field(
        default=200, description="How often a consumer's fetcher wakes while it waits for a fetch's answer")
    config_fetch_max_wait_ms: int = Field(
        default=500, ge=1, description="The config view's fetch wait (every service but query-api keeps one); "
        "sync() covers freshness where it matters")
    db_pool_size: int = Field(default=10, description="SQLAlchemy pool size (a fixed pool: no overflow connections)")
    publish_max_batch_bytes: int = Field(default=1_048_576, description="aiokafka producer batch size for the outbox relay")
    publish_linger_ms: int = Field(default=5, description="aiokafka producer linger for the outbox relay")
    relay_linger_ms: float = Field(default=25.0, description="While earlier batches are in flight, a woken relay waits this long for more commits, to publish them together; an idle one publishes at once")
    crash_after_records: int = Field(
        default=0, description="Fault injection for tests: exit abruptly at the end of the batch that brings the "
        "processed records to this many, once it is committed but before its offsets are (the notifier: after its "
        "Slack calls, before recording them). Counted in records, so batching does not move it. 0: off")
    drain_delay_seconds: float = Field(
        default=2.0, ge=0, description="After SIGTERM, /readyz answers 503 this long before HTTP intake stops, so load "
        "balancers stop sending first; consumers finish their batches and commit meanwhile (Kubernetes: keep "
        "terminationGracePeriodSeconds above this plus ~30 s)")
    inbox_retention_days: int = Field(default=14, description="How long processed event ids are remembered (must exceed any redelivery delay)")
