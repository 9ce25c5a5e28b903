"""The whole system on one machine: PostgreSQL, the broker, a fake Slack, and the six services as
separate processes. `make run`, `make demo`, `make bench` and the end-to-end tests all use this.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .broker import TansuBroker
from .broker_retention import RetentionPolicy
from .ports import free_port, wait_for_port
from .postgres import EmbeddedPostgres
from .process import ManagedProcess

SERVICES = ("query-api", "ingest", "grouping", "router", "notifier", "escalator")
MODULES = {name: "signalcraft_" + name.replace("-", "_") for name in SERVICES}
PREFERRED_PORTS = {"query-api": 8000, "ingest": 8001, "grouping": 8002, "router": 8003, "notifier": 8004,
                   "escalator": 8005, "fake-slack": 8006}
DEMO_BOT_TOKEN = "xoxb-signalcraft-demo"


def _port(preferred: int | None) -> int:
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    return free_port()


def create_database_on(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


@dataclass
class StackOptions:
    data_dir: Path
    broker_storage: Literal["s3", "memory"] = "s3"
    durable_postgres: bool = True
    preferred_ports: bool = False
    log_format: str = "json"
    extra_env: dict[str, str] = field(default_factory=dict)
    # Consumer group timings: a restarted consumer rejoins in about half the session timeout. Tansu on
    # S3 rewrites the group's object on every heartbeat: a third of the session timeout, not a sixth.
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 2000
    topic_partitions: int = 1
    # With S3 storage: delete the batch objects every consumer group has read once older than this
    # (broker_retention.py); None keeps them all, and every fetch then lists the whole history.
    broker_retention: RetentionPolicy | None = field(default_factory=RetentionPolicy)
    # Use this PostgreSQL server (a fresh database on it) instead of starting the embedded one.
    external_database_url: str | None = None


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.root = options.data_dir.resolve()
        self.logs = self.root / "logs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(self.root / "postgres", durable=options.durable_postgres)
        self.broker = TansuBroker(self.root / "broker", self.logs, storage=options.broker_storage,
                                  retention=options.broker_retention)
        self.processes: dict[str, ManagedProcess] = {}
        self.ports: dict[str, int] = {}
        secrets_file = self.root / "secrets.json"
        if secrets_file.exists():
            stored = json.loads(secrets_file.read_text())
        else:
            from cryptography.fernet import Fernet

            stored = {"secret_key": Fernet.generate_key().decode(), "admin_token": secrets.token_urlsafe(24)}
            secrets_file.write_text(json.dumps(stored))
            secrets_file.chmod(0o600)
        self.secret_key: str = stored["secret_key"]
        self.admin_token: str = stored["admin_token"]
        self.database_url = ""

    # --- infrastructure ---
    def start_infrastructure(self) -> None:
        if self.options.external_database_url:
            self.database_url = create_database_on(self.options.external_database_url, f"signalcraft_{secrets.token_hex(4)}")
        else:
            self.postgres.start()
            self.database_url = self.postgres.create_database("signalcraft")
        self.broker.start()
        self.start_fake_slack()

    def start_fake_slack(self) -> None:
        port = self.ports.get("fake-slack") or _port(PREFERRED_PORTS["fake-slack"] if self.options.preferred_ports else None)
        self.ports["fake-slack"] = port
        self.processes["fake-slack"] = ManagedProcess(
            "fake-slack",
            [sys.executable, "-m", "signalcraft_devstack.fake_slack", "--port", str(port),
             "--record", str(self.root / "fake-slack-messages.jsonl")],
            self.logs / "fake-slack.log",
        ).start()
        wait_for_port(port)

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['fake-slack']}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    # --- services ---
    def env_for(self, service: str) -> dict[str, str]:
        env = {
            "SIGNALCRAFT_DATABASE_URL": self.database_url,
            "SIGNALCRAFT_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "SIGNALCRAFT_HTTP_PORT": str(self.ports[service]),
            "SIGNALCRAFT_SECRET_KEY": self.secret_key,
            "SIGNALCRAFT_LOG_FORMAT": self.options.log_format,
            "SIGNALCRAFT_CONSUMER_SESSION_TIMEOUT_MS": str(self.options.session_timeout_ms),
            "SIGNALCRAFT_CONSUMER_HEARTBEAT_INTERVAL_MS": str(self.options.heartbeat_interval_ms),
            "SIGNALCRAFT_ADMIN_TOKEN": self.admin_token,
            "SIGNALCRAFT_PUBLIC_INGEST_URL": self.url("ingest"),
            "SIGNALCRAFT_SLACK_BASE_URL": f"{self.slack_url}/api/",
            # The Slack app for OAuth installs: the fake Slack's authorize page and default client.
            "SIGNALCRAFT_SLACK_AUTHORIZE_URL": f"{self.slack_url}/oauth/v2/authorize",
            "SIGNALCRAFT_SLACK_CLIENT_ID": "fake-client-id",
            "SIGNALCRAFT_SLACK_CLIENT_SECRET": "fake-client-secret",
            "SIGNALCRAFT_SLACK_REDIRECT_URL": f"{self.url('query-api')}/slack/oauth/callback",
            "SIGNALCRAFT_SLACK_APP_SIGNING_SECRET": "fake-app-signing-secret",
            # A frontend's local dev server (Vite's default port) may call the API from the browser.
            "SIGNALCRAFT_CORS_ORIGINS": '["http://localhost:5173"]',
            # One broker and one replica per service: partitions add no parallelism here, and Tansu on S3
            # writes an object (and rewrites a watermark) per partition of each produced batch and lists
            # every object of a partition on each fetch (bench/tansu_history_probe.py): one partition halves both.
            "SIGNALCRAFT_TOPIC_PARTITIONS": str(self.options.topic_partitions),
            # Sources gone silent (alert_when_silent) are noticed within seconds, not the default minute.
            "SIGNALCRAFT_SILENCE_CHECK_SECONDS": "2",
            # No load balancer to wait for here: after SIGTERM a service drains and stops at once.
            "SIGNALCRAFT_DRAIN_DELAY_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.options.extra_env)
        return env

    def allocate_ports(self) -> None:
        for name in SERVICES:
            if name not in self.ports:
                self.ports[name] = _port(PREFERRED_PORTS[name] if self.options.preferred_ports else None)

    def start_service(self, name: str, extra_env: dict[str, str] | None = None) -> ManagedProcess:
        self.allocate_ports()
        process = ManagedProcess(name, [sys.executable, "-m", MODULES[name]], self.logs / f"{name}.log",
                                 env={**self.env_for(name), **(extra_env or {})}).start()
        self.processes[name] = process
        return process

    def start_services(self, names: tuple[str, ...] = SERVICES, timeout: float = 120.0) -> None:
        for name in names:
            self.start_service(name)
        for name in names:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            process = self.processes[name]
            if not process.alive():
                raise RuntimeError(f"{name} exited:\n{process.tail(60)}")
            try:
                with urllib.request.urlopen(f"{self.url(name)}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {timeout}s: {last}\n{self.processes[name].tail(60)}")

    def kill9(self, name: str) -> None:
        self.processes[name].kill9()

    def start(self) -> "Stack":
        self.start_infrastructure()
        self.start_services()
        return self

    def stop(self) -> None:
        for name in reversed(SERVICES):
            if name in self.processes:
                self.processes[name].stop()
        if "fake-slack" in self.processes:
            self.processes["fake-slack"].stop()
        self.broker.stop()
        if not self.options.external_database_url:
            self.postgres.stop()

    def pids(self) -> dict[str, int]:
        pids = {name: p.pid for name, p in self.processes.items() if p.alive()}
        for name, proc in (("tansu", self.broker.process), ("seaweedfs", self.broker.s3.process if self.broker.s3 else None),
                           ("broker-retention", self.broker.retention_process), ("postgres", self.postgres.process)):
            if proc is not None and proc.alive():
                pids[name] = proc.pid
        return pids


