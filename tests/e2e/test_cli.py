"""The `signalcraft` admin CLI against the running system: what an operator types on day one."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from typer.testing import CliRunner

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.stack import Stack
from signalcraft_query_api.cli import app

from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e


def test_an_operator_sets_up_a_workspace_with_the_cli_and_alerts_flow(stack: Stack) -> None:
    runner = CliRunner()
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}

    def cli(*args: str) -> object:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if result.output.strip().startswith(("{", "[")) else result.output

    workspace = f"cli-{secrets.token_hex(3)}"
    cli("workspace", "create", "--name", "CLI Co", "--id", workspace, "--default-channel", f"#{workspace}")
    cli("slack", "connect", "--workspace", workspace, "--bot-token", "xoxb-cli", "--signing-secret", "s")
    rule = cli("rule", "add", "--workspace", workspace, "--name", "prod-high", "--env", "prod", "--min-severity",
               "high", "--channel", f"#{workspace}-oncall", "--runbook-url", "https://runbooks.example.com/x")
    assert [r["rule_id"] for r in cli("rule", "list", "--workspace", workspace)] == [rule["rule_id"]]
    # Last: on the config topic the rule then precedes the integration that lets alerts in.
    created = cli("integration", "add", "--workspace", workspace, "--provider", "sentry", "--name", "Sentry")
    assert created["webhook_url"].endswith(f"/webhooks/sentry/{created['integration_id']}")
    assert len(created["secret"]) >= 32  # printed once; stored encrypted
    cli("slack", "connect", "--workspace", workspace, "--bot-token", "xoxb-cli", "--signing-secret", "s")

    # Wrong token: refused, with the reason.
    denied = runner.invoke(app, ["workspace", "list"], env={**env, "SIGNALCRAFT_ADMIN_TOKEN": "nope"})
    assert denied.exit_code == 1 and "401" in denied.output

    body = event_alert("1230001", "production", "fatal")
    wait_until(lambda: httpx.post(created["webhook_url"], content=body,
                                  headers=sentry_headers(body, created["secret"])).status_code == 202,
               60, what="the CLI-made integration accepting a signed webhook")
    messages = wait_until(lambda: [m for m in httpx.get(f"{stack.slack_url}/_fake/messages").json()
                                   if m["channel"] == f"#{workspace}-oncall"], 60, what="the routed Slack message")
    assert messages[0]["text"].startswith("<!here> [CRITICAL] prod")
