"""Integrations' lifecycle, the test webhook, Slack OAuth install, read-model rebuild (issue 11.3, 11.6),
on the real stack: query-api and ingest on PostgreSQL and the broker, the fake Slack over HTTP."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.stack import Stack

from .conftest import SEEDED_BY_SQL, Tenant, wait_settled
from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e

WAIT_S = 60  # generous: e2e runs share two cores with other work


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url("query-api"), headers={"Authorization": f"Bearer {stack.admin_token}"},
                        timeout=60)


def grafana(tenant: Tenant, secret: str | None = None, **options: str) -> dict[str, Any]:
    created = tenant.admin.add_integration(tenant.workspace_id, "grafana", "Grafana", secret=secret, options=options)
    return created


def bearer_post(tenant: Tenant, integration_id: str, token: str) -> httpx.Response:
    body = {"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": f"a-{secrets.token_hex(3)}"},
                                            "annotations": {"summary": "disk"}}]}
    return httpx.post(f"{tenant.stack.url('ingest')}/webhooks/grafana/{integration_id}", json=body,
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)


def sentry_post(tenant: Tenant) -> httpx.Response:
    body = event_alert(secrets.token_hex(4))
    return httpx.post(tenant.webhook_url, content=body, headers=sentry_headers(body, tenant.secret), timeout=30)


def rejected_count(stack: Stack, reason: str) -> float:
    text = httpx.get(f"{stack.url('ingest')}/metrics", timeout=30).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("signalcraft_webhooks_rejected_total{") and f'reason="{reason}"' in line)


def test_disable_enable_and_delete_an_integration(tenant: Tenant) -> None:
    with api(tenant.stack) as client:
        disabled = client.patch(f"/api/integrations/{tenant.integration_id}", json={"enabled": False})
        assert disabled.status_code == 200 and disabled.json()["enabled"] is False
        refused = wait_until(lambda: (r := sentry_post(tenant)).status_code == 404 and r, WAIT_S,
                             what="ingest refusing the disabled integration")
        assert "disabled" in refused.json()["error"]
        assert rejected_count(tenant.stack, "integration_disabled") >= 1
        listed = client.get("/api/integrations", params={"workspace_id": tenant.workspace_id}).json()
        assert listed[0]["enabled"] is False

        assert client.patch(f"/api/integrations/{tenant.integration_id}", json={"enabled": True}).status_code == 200
        wait_until(lambda: sentry_post(tenant).status_code == 202, WAIT_S, what="accepted again once enabled")

        assert client.delete(f"/api/integrations/{tenant.integration_id}").status_code == 204
        gone = wait_until(lambda: (r := sentry_post(tenant)).status_code == 410 and r, WAIT_S,
                          what="ingest answering 410 for the deleted integration")
        assert "deleted" in gone.json()["error"]
        assert rejected_count(tenant.stack, "integration_gone") >= 1
        assert client.get("/api/integrations", params={"workspace_id": tenant.workspace_id}).json() == []
        assert client.delete(f"/api/integrations/{tenant.integration_id}").status_code == 404
        assert client.patch(f"/api/integrations/{tenant.integration_id}", json={"enabled": True}).status_code == 404


def test_a_rotated_secret_and_the_old_one_work_during_the_grace_then_only_the_new(tenant: Tenant) -> None:
    created = grafana(tenant, secret="old-grafana-secret")
    integration_id = created["integration_id"]
    wait_until(lambda: bearer_post(tenant, integration_id, "old-grafana-secret").status_code == 202, WAIT_S,
               what="ingest knowing the new integration")
    with api(tenant.stack) as client:
        rotated = client.post(f"/api/integrations/{integration_id}/rotate-secret", json={"grace": "8s"}).json()
        new = rotated["secret"]
        assert new != "old-grafana-secret" and rotated["previous_secret_valid_until"]
        assert "secret" not in client.get("/api/integrations", params={"workspace_id": tenant.workspace_id}).text
        wait_until(lambda: bearer_post(tenant, integration_id, new).status_code == 202, WAIT_S,
                   what="the new secret accepted")
        # Within the grace period: either works (the grace is measured from the rotation, seconds long).
        old = bearer_post(tenant, integration_id, "old-grafana-secret")
        assert old.status_code == 202 or old.status_code == 401  # 401 only if the grace already ran out
        wait_until(lambda: bearer_post(tenant, integration_id, "old-grafana-secret").status_code == 401, WAIT_S,
                   what="the old secret refused once its grace period is over")
        assert bearer_post(tenant, integration_id, new).status_code == 202

        again = client.post(f"/api/integrations/{integration_id}/rotate-secret",
                            json={"revoke_old_now": True, "secret": "third-grafana-secret"}).json()
        assert again["secret"] == "third-grafana-secret" and again["previous_secret_valid_until"] is None
        wait_until(lambda: bearer_post(tenant, integration_id, "third-grafana-secret").status_code == 202, WAIT_S,
                   what="the third secret accepted")
        assert bearer_post(tenant, integration_id, new).status_code == 401


def test_a_rotation_keeps_the_old_secret_for_the_default_24_hours(tenant: Tenant) -> None:
    with api(tenant.stack) as client:
        rotated = client.post(f"/api/integrations/{tenant.integration_id}/rotate-secret").json()
    assert rotated["previous_secret_valid_until"]

    def signed_with_new() -> int:
        body = event_alert(secrets.token_hex(4))
        return httpx.post(tenant.webhook_url, content=body, headers=sentry_headers(body, rotated["secret"]),
                          timeout=30).status_code

    wait_until(lambda: signed_with_new() == 202, WAIT_S, what="ingest knowing the rotated secret")
    assert sentry_post(tenant).status_code == 202  # the old secret, within its 24 h


def test_a_test_webhook_goes_through_the_pipeline_to_slack_and_says_so(tenant: Tenant) -> None:
    created = grafana(tenant)
    with api(tenant.stack) as client:
        trace = wait_until(lambda: (r := client.post(f"/api/integrations/{created['integration_id']}/test",
                                                     params={"wait": 30}).json())["complete"] and r,
                           WAIT_S * 2, what="a complete test webhook trace")
        assert trace["delivery"]["status_code"] == 202 and trace["failed"] is None
        assert (trace["reached"], trace["notification"]["status"]) == ("slack", "delivered")
        assert trace["route"]["channel"] == tenant.channel and trace["group_id"] and trace["alert_id"]
        assert [m for m in tenant.slack_messages() if "TEST" in m["text"].upper()]
        assert tenant.sql("SELECT is_test FROM query.groups WHERE group_id = %s", trace["group_id"]) == [(True,)]

        client.patch(f"/api/integrations/{created['integration_id']}", json={"enabled": False})
        refused = wait_until(lambda: (r := client.post(f"/api/integrations/{created['integration_id']}/test",
                                                       params={"wait": 0}).json())["failed"] and r,
                             WAIT_S, what="the test webhook refused by ingest")
        assert (refused["failed"], refused["delivery"]["status_code"]) == ("ingest", 404)
        assert "disabled" in refused["error"]
        sentry = client.post(f"/api/integrations/{tenant.integration_id}/test")
        assert sentry.status_code == 422


def test_slack_oauth_install_status_and_disconnect(tenant: Tenant) -> None:
    stack = tenant.stack
    with api(stack) as client:
        link = client.get("/api/slack/install", params={"workspace_id": tenant.workspace_id}).json()
        assert link["authorize_url"].startswith(f"{stack.slack_url}/oauth/v2/authorize?")
        # The person presses Allow on Slack's page; Slack sends the browser to our callback.
        allowed = httpx.get(link["authorize_url"] + "&team=T0OAUTH", follow_redirects=False, timeout=30)
        assert allowed.status_code == 302
        callback = allowed.headers["location"]
        assert callback.startswith(f"{stack.url('query-api')}/slack/oauth/callback?")
        installed = httpx.get(callback, timeout=60)  # public: no bearer token
        assert installed.status_code == 200, installed.text
        assert installed.json()["team_id"] == "T0OAUTH" and installed.json()["connected"] is True
        assert httpx.get(callback, timeout=60).status_code == 400  # a code is good once (invalid_code)
        status = client.get("/api/slack/status", params={"workspace_id": tenant.workspace_id}).json()
        assert (status["connected"], status["team_id"]) == (True, "T0OAUTH")
        stored = tenant.sql("SELECT bot_token_encrypted FROM query.slack_connections WHERE workspace_id = %s",
                            tenant.workspace_id)[0][0]
        token = httpx.get(f"{stack.slack_url}/_fake/installs", timeout=30).json()[-1]["access_token"]
        assert token not in stored  # encrypted at rest

        # Alerts now go to Slack with the installed token.
        assert sentry_post(tenant).status_code == 202
        wait_until(lambda: tenant.slack_messages(), WAIT_S, what="a message posted with the OAuth token")

        code = parse_qs(urlsplit(callback).query)["code"][0]
        bad = [httpx.get(f"{stack.url('query-api')}/slack/oauth/callback", params=params, timeout=30)
               for params in ({"code": code, "state": link["state"] + "x"}, {"code": code, "state": "forged.state"},
                              {"code": code}, {"error": "access_denied", "state": link["state"]})]
        assert [r.status_code for r in bad] == [400, 400, 400, 400]

        workspace = {"workspace_id": tenant.workspace_id}
        assert client.delete("/api/slack", params=workspace).json()["connected"] is False
        assert client.get("/api/slack/status", params=workspace).json()["connected"] is False
        assert client.delete("/api/slack", params=workspace).status_code == 404
        assert client.get("/api/slack/install", params={"workspace_id": "no-such-ws"}).status_code == 404


def read_model_snapshot(tenant: Tenant) -> dict[str, Any]:
    ws = tenant.workspace_id
    return {
        "alerts": tenant.sql("SELECT event_id, group_key, status, received_at FROM query.alerts "
                             "WHERE workspace_id = %s ORDER BY event_id", ws),
        "groups": tenant.sql("SELECT group_id, status, count, acknowledged_at, acknowledged_by, resolved_at, "
                             "channel, notified_at FROM query.groups WHERE workspace_id = %s ORDER BY group_id", ws),
        "timeline": tenant.sql("SELECT t.event_id, t.group_id, t.at, t.kind, t.detail FROM query.timeline t JOIN "
                               "query.groups g USING (group_id) WHERE g.workspace_id = %s ORDER BY t.event_id", ws),
        "notifications": tenant.sql("SELECT notification_id, group_id, kind, channel, status, attempts FROM "
                                    "query.notifications WHERE workspace_id = %s ORDER BY notification_id", ws),
        "activity": tenant.sql("SELECT integration_id, last_webhook_at, alerts_total FROM "
                               "query.integration_activity WHERE workspace_id = %s", ws),
    }


PRIMARY_KEYS = {"alerts": "event_id", "groups": "group_id", "timeline": "event_id",
                "notifications": "notification_id", "command_outcomes": "command_id", "deadletters": "event_id"}


def every_row_id(tenant: Tenant) -> dict[str, set[Any]]:
    """Every workspace's rows, by id: other tests' timers (auto-close, escalations) may add rows meanwhile.
    Not those of workspaces a test seeded by SQL: no topic holds them, so no replay can restore them."""
    seeded = sorted(SEEDED_BY_SQL)
    rows = {table: {row[0] for row in tenant.sql(
        f"SELECT {key} FROM query.{table} WHERE workspace_id IS NULL OR NOT (workspace_id = ANY(%s))", seeded)}
        for table, key in PRIMARY_KEYS.items() if table != "timeline"}
    rows["timeline"] = {row[0] for row in tenant.sql(
        "SELECT t.event_id FROM query.timeline t LEFT JOIN query.groups g USING (group_id) "
        "WHERE g.workspace_id IS NULL OR NOT (g.workspace_id = ANY(%s))", seeded)}
    return rows


def missing_rows(before: dict[str, set[Any]], tenant: Tenant) -> dict[str, int]:
    now = every_row_id(tenant)
    return {table: len(ids - now[table]) for table, ids in before.items() if ids - now[table]}


def test_rebuilt_read_models_equal_the_live_ones(tenant: Tenant) -> None:
    for _ in range(6):
        assert sentry_post(tenant).status_code == 202
    wait_until(lambda: len(tenant.groups()) == 6 and all(g["notified_at"] for g in tenant.groups()), WAIT_S * 2,
               what="six groups notified")
    group_id = tenant.groups()[0]["group_id"]
    with api(tenant.stack) as client:
        acked = client.post(f"/api/alert-groups/{group_id}/ack", params={"wait": "true"}, json={"by": "e2e"})
        assert acked.status_code < 300, acked.text
        wait_until(lambda: any(g["status"] == "acknowledged" for g in tenant.groups()), WAIT_S, what="the ack")
        # Live state settled: the ack's own notification answered, and two equal snapshots 3 s apart.
        wait_until(lambda: tenant.sql("SELECT count(*) FILTER (WHERE status = 'requested'), count(*) FROM "
                                      "query.notifications WHERE workspace_id = %s", tenant.workspace_id)[0] == (0, 7),
                   WAIT_S, what="every notification answered, the ack's included")

        live = wait_settled(lambda: read_model_snapshot(tenant), WAIT_S, 3.0, "settled read models")
        before = every_row_id(tenant)
        started = client.post("/api/admin/rebuild-read-models")
        assert started.status_code == 200, started.text
        assert {"alerts", "groups", "timeline", "notifications"} <= set(started.json()["tables_emptied"])
        assert started.json()["generation"] >= 1
        assert started.json()["consumer_group"] == f"query-api-rebuild-{started.json()['generation']}"
        def rebuilt_differences() -> list[str]:
            now = read_model_snapshot(tenant)
            return [kind for kind in live if now[kind] != live[kind]]

        try:
            wait_until(lambda: not rebuilt_differences(), WAIT_S * 3, interval=1.0,
                       what="the rebuilt read models equal to the live ones")
        except TimeoutError:
            now = read_model_snapshot(tenant)
            raise AssertionError({kind: (live[kind], now[kind]) for kind in rebuilt_differences()}) from None
        try:
            wait_until(lambda: not missing_rows(before, tenant), WAIT_S * 3, interval=1.0,
                       what="every workspace's rows rebuilt")
        except TimeoutError:
            raise AssertionError(f"rows missing after the rebuild: {missing_rows(before, tenant)}") from None
        assert client.get("/api/admin/read-models").json()["rows"]["alerts"] >= len(before["alerts"])
        # Configuration was not touched, and the pipeline still flows.
        assert client.get("/api/integrations", params={"workspace_id": tenant.workspace_id}).json()
    assert sentry_post(tenant).status_code == 202
    wait_until(lambda: len(tenant.groups()) == 7, WAIT_S, what="a new group after the rebuild")


def test_the_cli_disables_enables_rotates_tests_deletes_and_shows_the_slack_install(tenant: Tenant) -> None:
    import json

    from typer.testing import CliRunner

    from signalcraft_query_api.cli import app

    runner = CliRunner()
    env = {"SIGNALCRAFT_API_URL": tenant.stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": tenant.stack.admin_token}

    def cli(*args: str) -> Any:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.output) if result.output.strip().startswith(("{", "[")) else result.output

    integration_id = grafana(tenant)["integration_id"]
    assert cli("integration", "disable", integration_id)["enabled"] is False
    assert cli("integration", "enable", integration_id)["enabled"] is True
    rotated = cli("integration", "rotate", integration_id, "--grace", "1h")
    assert rotated["secret"] and rotated["previous_secret_valid_until"]
    trace = cli("integration", "test", integration_id, "--wait", "30")
    assert trace["delivery"]["status_code"] in (202, 401)  # 401 only while ingest still learns the new secret
    assert "/oauth/v2/authorize?" in cli("slack", "install", "--workspace", tenant.workspace_id)
    assert cli("slack", "status", "--workspace", tenant.workspace_id)["connected"] is True
    assert f"deleted {integration_id}" in cli("integration", "delete", integration_id)
