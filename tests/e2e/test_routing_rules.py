"""Routing rules on the real stack (issue 10.4, 10.5, 10.7): matchers validated when saved, fan-out
with `continue` (one message per channel, each rule's mention and quick actions, every route
stored, a resolve followed on every route), explain for a provider payload and a NormalizedAlert,
and the CLI's `rule test` and `rule import`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from signalcraft_devstack.admin import wait_until
from signalcraft_devstack.stack import Stack
from signalcraft_query_api.cli import app

from .conftest import Tenant, make_tenant
from .sentry_payloads import event_alert, send

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parents[1] / "contract" / "fixtures" / "alertmanager-config"


def api(tenant: Tenant, method: str, path: str, **body: Any) -> httpx.Response:
    return httpx.request(method, f"{tenant.stack.url('query-api')}{path}", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {tenant.stack.admin_token}"})


def fan_out_rules(tenant: Tenant) -> tuple[str, str, dict[str, str]]:
    prod, pager = f"{tenant.channel}-prod", f"{tenant.channel}-pager"
    ids = {
        "prod": tenant.admin.add_rule(
            tenant.workspace_id, "all prod", prod, position=10, conditions={"matchers": ['environment="prod"']},
            mention="none", quick_actions=[{"label": "Dashboard",
                                            "url_template": "https://grafana.example/d/x?p={project}&g={group_id}"}],
            **{"continue": True})["rule_id"],
        "pager": tenant.admin.add_rule(
            tenant.workspace_id, "paging", pager, position=20, mention="usergroup:S0PAGER",
            conditions={"matchers": ['severity=~"high|critical"']})["rule_id"],
        "late": tenant.admin.add_rule(tenant.workspace_id, "after the stop", f"{tenant.channel}-late",
                                      position=30)["rule_id"],
    }
    return prod, pager, ids


async def test_a_continuing_rule_fans_a_group_out_and_every_route_follows_it(stack: Stack) -> None:
    tenant = make_tenant(stack)
    refused = api(tenant, "POST", "/api/routing-rules", workspace_id=tenant.workspace_id, name="bad", channel="#x",
                  conditions={"matchers": ['severity=~"(high"']})
    assert refused.status_code == 422 and 'severity=~\\"(high\\"' in refused.text and "invalid regex" in refused.text
    bad_button = api(tenant, "POST", "/api/routing-rules", workspace_id=tenant.workspace_id, name="bad", channel="#x",
                     quick_actions=[{"label": "x", "url_template": "javascript:alert({title})"}])
    assert bad_button.status_code == 422 and "not an http(s) URL" in bad_button.text
    prod, pager, ids = fan_out_rules(tenant)

    async with httpx.AsyncClient(timeout=30) as client:
        assert (await send(client, tenant.webhook_url, tenant.secret,
                           event_alert("5500001", "production", "fatal"))).status_code == 202
    messages = wait_until(lambda: (m := tenant.slack_messages()) and len(m) >= 2 and m, 60, what="2 messages")
    by_channel = {m["channel"]: m for m in messages}
    assert set(by_channel) == {prod, pager}  # not the default channel, not the rule after the stop
    assert not by_channel[prod]["text"].startswith("<!")  # mention: none
    assert by_channel[pager]["text"].startswith("<!subteam^S0PAGER> [CRITICAL] prod")
    [group] = wait_until(lambda: tenant.groups() or None, 30, what="the group in the read model")
    [links] = [b for b in by_channel[prod]["blocks"] if b.get("block_id", "").startswith("signalcraft.links.")]
    assert links["elements"][0]["url"] == f"https://grafana.example/d/x?p={group['project']}&g={group['group_id']}"
    assert not [b for b in by_channel[pager]["blocks"] if b.get("block_id", "").startswith("signalcraft.links.")]
    routes = tenant.sql("SELECT channel, rule_id, position FROM router.group_routes WHERE group_id = %s "
                        "ORDER BY position", group["group_id"])
    assert routes == [(prod, ids["prod"], 0), (pager, ids["pager"], 1)]

    resolved = api(tenant, "POST", f"/api/alert-groups/{group['group_id']}/resolve?wait=true", reason="fixed")
    assert resolved.status_code == 200, resolved.text

    def resolved_on_every_route() -> set[str] | None:
        detail = tenant.api(f"/api/alert-groups/{group['group_id']}")
        channels = {n["channel"] for n in detail["notifications"] if n["kind"] == "resolved"}
        return channels if channels == {prod, pager} else None

    wait_until(resolved_on_every_route, 60, what="a resolve notification for each route")
    wait_until(lambda: any(m["channel"] == prod and m["text"].startswith("Resolved:") for m in tenant.slack_messages()),
               60, what="the first route's message rewritten as resolved")
    assert len([m for m in tenant.slack_messages() if m["channel"] in (prod, pager)]) == 2  # no new top-level message
    tenant.admin.close()


def test_explain_answers_which_rules_take_a_sample_and_why_not(stack: Stack, tmp_path: Path) -> None:
    tenant = make_tenant(stack, wait_for_ingest=False)
    prod, pager, ids = fan_out_rules(tenant)
    sample = json.loads(event_alert("5500002", "production", "fatal"))
    answer = api(tenant, "POST", "/api/routing-rules/test", workspace_id=tenant.workspace_id, provider="sentry",
                 payload=sample, headers={"Sentry-Hook-Resource": "event_alert"})
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["alerts"]
    assert item["alert"]["environment"] == "prod" and item["alert"]["severity"] == "critical"
    assert item["routes"] == [{"channel": prod, "rule_id": ids["prod"]}, {"channel": pager, "rule_id": ids["pager"]}]
    assert [(r["rule_id"], r["matched"], r["routed"], r["stopped_by"]) for r in item["rules"]] == [
        (ids["prod"], True, True, None), (ids["pager"], True, True, None), (ids["late"], True, False, ids["pager"])]

    alert = {**item["alert"], "environment": "staging", "severity": "low"}
    [quiet] = api(tenant, "POST", "/api/routing-rules/test", workspace_id=tenant.workspace_id,
                  alert=alert).json()["alerts"]
    assert [r["failed"] for r in quiet["rules"][:2]] == [
        {"field": "environment", "operator": "=", "expected": "prod", "actual": "staging"},
        {"field": "severity", "operator": "=~", "expected": "high|critical", "actual": "low"}]
    assert quiet["routes"] == [{"channel": f"{tenant.channel}-late", "rule_id": ids["late"]}]
    unknown = api(tenant, "POST", "/api/routing-rules/test", workspace_id=tenant.workspace_id, provider="nagios",
                  payload={})
    assert unknown.status_code == 422 and "unknown provider" in unknown.text

    runner = CliRunner()
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}
    sample_file = tmp_path / "alert.json"
    sample_file.write_text(json.dumps(alert))
    printed = runner.invoke(app, ["rule", "test", "--workspace", tenant.workspace_id, "--file", str(sample_file)],
                            env=env)
    assert printed.exit_code == 0, printed.output
    assert "no: environment = 'prod' (was 'staging')" in printed.output
    assert "MATCH, stop" in printed.output and f"-> {tenant.channel}-late ({ids['late']})" in printed.output
    tenant.admin.close()


def test_the_cli_imports_an_alertmanager_route_tree(stack: Stack) -> None:
    tenant = make_tenant(stack, wait_for_ingest=False)
    runner = CliRunner()
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}
    args = ["rule", "import", str(FIXTURE / "simple.yml"), "--workspace", tenant.workspace_id,
            "--receivers", str(FIXTURE / "receivers.yml")]
    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert dry.output.count("would create") == 6 and "receiver 'team-DB-pager'" in dry.output
    assert tenant.admin.get("/api/routing-rules", workspace_id=tenant.workspace_id) == []
    done = runner.invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    rules = tenant.admin.get("/api/routing-rules", workspace_id=tenant.workspace_id)
    assert [(r["position"], r["channel"], r["conditions"]["matchers"]) for r in rules][:2] == [
        (1000, "#team-x-oncall", ['service=~"^(foo1|foo2|baz)$"', 'tag.severity="critical"']),
        (1010, "#team-x", ['service=~"^(foo1|foo2|baz)$"'])]
    assert len(rules) == 6 and rules[0]["mention"] == "usergroup:S0TEAMX"
    tenant.admin.close()
