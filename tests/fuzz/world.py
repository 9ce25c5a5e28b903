"""What the fuzzer runs against: the real system (PostgreSQL, Tansu, fake Slack, the six services as
processes), one workspace with an integration of every provider and auth mode, and a local HTTPS
"SNS" (tests/e2e/local_https.py) whose signing certificate ingest trusts, so that validly signed
SNS messages with hostile contents reach the CloudWatch normalizer.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from e2e.local_https import LocalCa, LocalHttpsServer
from signalcraft_devstack.admin import AdminClient, wait_until
from signalcraft_devstack.stack import Stack, StackOptions
from sns_signing import SnsSigner

SNS_TOPIC = "arn:aws:sns:eu-west-1:1234567890:alerta-test"
GRAFANA_SIGNATURE = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP = "X-Grafana-Alerting-Timestamp"
DATADOG_TOKEN = "X-SignalCraft-Token"
DATADOG_FLUFFY_MAPPING = {"status": "alert_transition", "source_event_id": "event_id", "tags": "event_tags",
                          "link": "link"}
MAX_BODY_BYTES = 1_048_576  # ingest's default limit
LOG_TAIL_LINES = 40
SLACK_TEAM = "T0FUZZTEAM"
SLACK_SIGNING_SECRET = "fuzz-slack-signing-secret"
FIXTURES = Path(__file__).resolve().parent.parent / "contract" / "fixtures"


@dataclass(frozen=True)
class Webhook:
    """One configured integration the fuzzer sends to."""

    label: str
    provider: str
    integration_id: str
    secret: str
    options: dict[str, str]

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}/{self.integration_id}"


# label -> (provider, options, secret or None for a random 32-hex one, PagerDuty's routing-key shape)
INTEGRATIONS: dict[str, tuple[str, dict[str, str], str | None]] = {
    "sentry": ("sentry", {}, None),
    "alertmanager-bearer": ("alertmanager", {"auth": "bearer", "default_environment": "production"}, None),
    "alertmanager-basic": ("alertmanager", {"auth": "basic"}, f"fuzz:{secrets.token_hex(8)}"),
    "grafana-hmac": ("grafana", {"auth": "hmac", "timestamp_header": GRAFANA_TIMESTAMP}, None),
    "grafana-bearer": ("grafana", {}, None),
    "datadog": ("datadog", {"header": DATADOG_TOKEN}, None),
    "datadog-mapped": ("datadog", {"header": DATADOG_TOKEN, "mapping": json.dumps(DATADOG_FLUFFY_MAPPING)}, None),
    "cloudwatch": ("cloudwatch", {"topic_arns": SNS_TOPIC, "cert_host_pattern": r"^127\.0\.0\.1$"}, None),
    "pagerduty": ("pagerduty", {"default_project": "fuzz"}, None),
}


@dataclass
class FuzzWorld:
    stack: Stack
    workspace_id: str
    webhooks: dict[str, Webhook]
    sns_signer: SnsSigner
    sns_base_url: str
    sns_pem_path: str
    openapi: dict[str, Any] = field(default_factory=dict, repr=False)
    # Groups made from one valid webhook at the start, so that routes and buttons naming a group find one.
    groups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sns_cert_url(self) -> str:
        return f"{self.sns_base_url}{self.sns_pem_path}"

    @property
    def admin_token(self) -> str:
        return self.stack.admin_token

    def url(self, service: str) -> str:
        return self.stack.url(service)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.database_url) as conn:
            return conn.execute(query, params).fetchall()

    def log_tails(self) -> str:
        tails = []
        for log in sorted(self.stack.logs.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            tails.append(f"--- {log.name} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(tails)


def _add_integrations(stack: Stack, admin: AdminClient, workspace_id: str) -> dict[str, Webhook]:
    webhooks = {}
    for label, (provider, options, secret) in INTEGRATIONS.items():
        created = admin.add_integration(workspace_id, provider, f"fuzz {label}", secret=secret or secrets.token_hex(16),
                                        options=options)
        webhooks[label] = Webhook(label, provider, created["integration_id"], created["secret"], options)
    ingest = stack.url("ingest")
    for webhook in webhooks.values():  # ingest learns integrations from the config topic: wait for it
        wait_until(lambda: httpx.post(f"{ingest}{webhook.path}", content=b"{}", timeout=10).status_code != 404, 60,
                   what=f"ingest knowing {webhook.label}")
    return webhooks


def _first_groups(stack: Stack, admin: AdminClient, workspace_id: str, webhook: Webhook) -> list[dict[str, Any]]:
    body = (FIXTURES / "alertmanager" / "firing-two-alerts-oncall-example.json").read_bytes()
    response = httpx.post(f"{stack.url('ingest')}{webhook.path}", content=body, timeout=30, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {webhook.secret}"})
    response.raise_for_status()
    return wait_until(lambda: (lambda g: g if len(g) == 2 else None)(
        admin.get("/api/alert-groups", workspace_id=workspace_id)["items"]), 60, what="the first two groups")


@contextmanager
def running_world() -> Iterator[FuzzWorld]:
    root = Path(tempfile.mkdtemp(prefix="signalcraft-fuzz-"))
    ca = LocalCa(root / "sns-tls")
    signer = SnsSigner()
    pem_path = f"/SimpleNotificationService-{secrets.token_hex(16)}.pem"
    sns = LocalHttpsServer(ca, pem_path, signer.pem).start()
    stack = Stack(StackOptions(
        root / "stack", broker_storage="memory", durable_postgres=False, log_format="console",
        external_database_url=os.environ.get("SIGNALCRAFT_TEST_DATABASE_URL"),
        extra_env={"SIGNALCRAFT_SNS_CA_BUNDLE": str(ca.ca_file),
                   "SIGNALCRAFT_SNS_CERT_HOST_PATTERN": r"^127\.0\.0\.1$"},
    ))
    try:
        stack.start()
        admin = AdminClient(stack.url("query-api"), stack.admin_token)
        workspace_id = f"fuzz-{secrets.token_hex(4)}"
        admin.create_workspace(workspace_id, "Fuzz", default_channel="#fuzz")
        httpx.post(f"{stack.url('query-api')}/api/slack/connect", timeout=30, json={
            "workspace_id": workspace_id, "bot_token": "xoxb-fuzz-token", "signing_secret": SLACK_SIGNING_SECRET,
            "team_id": SLACK_TEAM}, headers={"Authorization": f"Bearer {stack.admin_token}"}).raise_for_status()
        webhooks = _add_integrations(stack, admin, workspace_id)
        groups = _first_groups(stack, admin, workspace_id, webhooks["alertmanager-bearer"])
        admin.close()
        openapi = httpx.get(f"{stack.url('query-api')}/openapi.json", timeout=30).json()
        yield FuzzWorld(stack, workspace_id, webhooks, signer, sns.base_url, pem_path, openapi, groups)
    finally:
        stack.stop()
        sns.stop()
