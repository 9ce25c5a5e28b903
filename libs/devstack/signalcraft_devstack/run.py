"""`make run`: the whole system on this machine, durable, on embedded defaults.

Starts PostgreSQL (data in .data/postgres), Tansu on SeaweedFS S3 (.data/broker), a fake Slack Web
API, and the six services as separate processes; creates the demo workspace once; prints the URLs;
restarts any of them that exits (see supervisor.py); Ctrl-C, SIGTERM or a closed terminal (SIGHUP)
stops everything in order, and if this process is killed outright its children die with it (see
process.py). Running it again loses nothing.

Settings (environment): SIGNALCRAFT_DATA_DIR (default .data); SIGNALCRAFT_DEVSTACK_PREFERRED_PORTS=0
to take free ports instead of 8000-8006 (the end-to-end tests run several stacks at once);
SIGNALCRAFT_BROKER_RETENTION_SECONDS (default 60, `off` keeps every batch object; broker_retention.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from .admin import AdminClient
from .broker_retention import RetentionPolicy
from .fake_slack import DEFAULT_TEAM
from .stack import DEMO_BOT_TOKEN, Stack, StackOptions
from .supervisor import Supervisor, components_of

DEMO_WORKSPACE = "demo"


def ensure_demo_workspace(stack: Stack) -> dict[str, str]:
    """Idempotent: the demo workspace, Slack connection, two rules and one Sentry integration."""
    state_file = stack.root / "demo.json"
    admin = AdminClient(stack.url("query-api"), stack.admin_token)
    try:
        admin.create_workspace(DEMO_WORKSPACE, "Demo", default_channel="#alerts")
        # The fake Slack's team: its signed button clicks (make demo) act on this workspace.
        admin.connect_slack(DEMO_WORKSPACE, DEMO_BOT_TOKEN, "demo-signing-secret", team_id=DEFAULT_TEAM)
        if state_file.exists():
            state = json.loads(state_file.read_text())
        else:
            admin.add_rule(DEMO_WORKSPACE, "prod high and up", "#oncall", position=10,
                           conditions={"environments": ["prod"], "min_severity": "high"},
                           runbook_url="https://runbooks.example.com/prod-errors", escalate_after_minutes=15)
            admin.add_rule(DEMO_WORKSPACE, "staging", "#dev-alerts", position=20, conditions={"environments": ["staging"]})
            created = admin.add_integration(DEMO_WORKSPACE, "sentry", "Demo Sentry")
            state = {"integration_id": created["integration_id"], "secret": created["secret"]}
            state_file.write_text(json.dumps(state))
            state_file.chmod(0o600)
    finally:
        admin.close()
    return state


def banner(stack: Stack, demo: dict[str, str]) -> str:
    ingest = stack.url("ingest")
    return "\n".join([
        "",
        "SignalCraft is running (Ctrl-C stops it; `make run` again resumes with the same data).",
        f"  API (frontend)     OpenAPI page {stack.url('query-api')}/docs    admin token (super-user): {stack.admin_token}",
        f"  Webhooks           {ingest}/webhooks/<provider>/<integration_id>",
        f"  Demo Sentry hook   {ingest}/webhooks/sentry/{demo['integration_id']}   client secret: {demo['secret']}",
        f"  Fake Slack         {stack.slack_url}/_fake/messages",
        f"  Broker             {stack.broker.bootstrap_servers} (Tansu, S3 on SeaweedFS)   PostgreSQL {stack.database_url}",
        f"  Logs               {stack.logs}/",
        "  Try:               make demo",
        f"  CLI:               SIGNALCRAFT_API_URL={stack.url('query-api')} SIGNALCRAFT_ADMIN_TOKEN={stack.admin_token} .venv/bin/signalcraft --help",
        "  Member token:      (shown once; send it as `Authorization: Bearer sc_…`, or as SIGNALCRAFT_TOKEN to the CLI)",
        f"                     SIGNALCRAFT_API_URL={stack.url('query-api')} SIGNALCRAFT_ADMIN_TOKEN={stack.admin_token} "
        f".venv/bin/signalcraft token create --workspace {DEMO_WORKSPACE} --role member --name me --expires 30d",
        "",
    ])


def say(text: str, file: TextIO = sys.stdout) -> None:
    """Print, and carry on when the terminal is gone (a closed terminal must still stop in order)."""
    try:
        print(text, file=file, flush=True)
    except OSError:
        pass


def broker_retention_from(value: str | None) -> RetentionPolicy | None:
    """SIGNALCRAFT_BROKER_RETENTION_SECONDS: how long read batch objects stay; `off` keeps them all."""
    if value is None or not value.strip():
        return RetentionPolicy()
    if value.strip().lower() == "off":
        return None
    seconds = float(value)
    if seconds < 0:
        raise ValueError(f"SIGNALCRAFT_BROKER_RETENTION_SECONDS must be >= 0 or `off`, not {value!r}")
    return RetentionPolicy(keep_seconds=seconds)


def main() -> None:
    root = Path(os.environ.get("SIGNALCRAFT_DATA_DIR", ".data"))
    preferred_ports = os.environ.get("SIGNALCRAFT_DEVSTACK_PREFERRED_PORTS", "1") != "0"
    retention = broker_retention_from(os.environ.get("SIGNALCRAFT_BROKER_RETENTION_SECONDS"))
    stack = Stack(StackOptions(root, broker_storage="s3", durable_postgres=True, preferred_ports=preferred_ports,
                               broker_retention=retention))
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    say("starting PostgreSQL, the broker (Tansu on SeaweedFS), fake Slack and six services...")
    try:
        stack.start()
        demo = ensure_demo_workspace(stack)
        (root / "urls.json").write_text(json.dumps({
            "ingest": stack.url("ingest"), "query_api": stack.url("query-api"), "fake_slack": stack.slack_url,
            "admin_token": stack.admin_token, "workspace_id": DEMO_WORKSPACE, **demo}))
        say(banner(stack, demo))
        supervisor = Supervisor(components_of(stack), say, stopping=lambda: stopping)
        while not stopping:
            supervisor.check()
            time.sleep(0.5)
    except Exception as exc:
        say(f"make run failed: {exc}", sys.stderr)
        raise
    finally:
        say("stopping services, then the broker and PostgreSQL...")
        stack.stop()
        say("stopped.")


if __name__ == "__main__":
    main()
