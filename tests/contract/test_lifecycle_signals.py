"""Provider signals that feed the group lifecycle (issue 9.6), from the real fixtures as their senders
deliver them: Sentry's ignore snoozes and its assignment names an assignee, PagerDuty's project and
environment come from the payload while its acknowledge and resolve still reach the trigger's group,
Grafana's relative links are resolved against the payload's externalURL or dropped, and an
Alertmanager resolution names its own alert's group only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from signalcraft_schemas import AlertStatus, NormalizedAlert
from signalcraft_ingest.domain.normalize import group_key_of
from signalcraft_ingest.domain.providers import PROVIDERS

from .support import DELIVERIES, FIXTURES, FakeContext, integration_for, run


def fixture(path: str) -> dict[str, Any]:
    return json.loads((FIXTURES / path).read_text())


def parse(provider: str, payload: dict[str, Any], stem: str = "case") -> list[NormalizedAlert]:
    integration = integration_for(provider, stem)
    delivered = DELIVERIES[provider](json.dumps(payload).encode(), integration, stem)
    run(PROVIDERS[provider].authenticate(delivered, integration, FakeContext()))
    return PROVIDERS[provider].parse(delivered, integration).alerts


def sentry_issue(action: str, **issue: Any) -> dict[str, Any]:
    payload = fixture("sentry/issue-created.json")
    payload["action"] = action
    payload["data"]["issue"].update(issue)
    return payload


def test_sentry_ignored_snoozes_the_issues_group_until_ignore_until_or_unsnoozed():
    [created] = parse("sentry", fixture("sentry/issue-created.json"))
    until = {"ignoreUntil": "2020-04-28T18:00:00Z", "actor": {"name": "Jane"}}
    [ignored] = parse("sentry", sentry_issue("ignored", status="ignored", statusDetails=until))
    assert (ignored.status, ignored.snoozed_until) == (AlertStatus.SNOOZED, datetime(2020, 4, 28, 18, tzinfo=UTC))
    assert group_key_of(ignored) == group_key_of(created)  # the same group as the issue's alerts
    [forever] = parse("sentry", sentry_issue("archived", status="ignored", statusDetails={}))
    assert (forever.status, forever.snoozed_until) == (AlertStatus.SNOOZED, None)


def test_sentry_assigned_names_the_assignee_of_the_issues_group():
    jane = {"type": "user", "id": "1", "name": "Jane Doe", "email": "jane@example.com"}
    [assigned] = parse("sentry", sentry_issue("assigned", assignedTo=jane))
    assert (assigned.status, assigned.assignee) == (AlertStatus.ASSIGNED, "jane@example.com")
    [team] = parse("sentry", sentry_issue("assigned", assignedTo={"type": "team", "id": "7", "name": "payments"}))
    assert team.assignee == "payments"
    [nobody] = parse("sentry", sentry_issue("assigned", assignedTo=None))
    assert (nobody.status, nobody.assignee) == (AlertStatus.ASSIGNED, None)


def test_sentry_resolved_resolves():
    [resolved] = parse("sentry", fixture("sentry/issue-resolved.json"))
    assert resolved.status == AlertStatus.RESOLVED


def test_pagerduty_project_and_environment_come_from_the_payload():
    trigger = fixture("pagerduty-events-v2/trigger-full-api-schema.json")
    [alert] = parse("pagerduty", trigger)
    assert (alert.project, alert.environment) == ("mysql", "prod")  # component; the integration's default env
    trigger["payload"]["custom_details"]["environment"] = "staging"
    assert parse("pagerduty", trigger)[0].environment == "staging"
    del trigger["payload"]["custom_details"]["environment"]
    trigger["payload"]["custom_details"]["env"] = "production"
    del trigger["payload"]["component"]
    [by_group] = parse("pagerduty", trigger)
    assert (by_group.project, by_group.environment) == ("prod-datapipe", "prod")


def test_pagerduty_acknowledge_and_resolve_reach_the_triggers_group_without_a_payload():
    trigger = fixture("pagerduty-events-v2/trigger-full-api-schema.json")
    [fired] = parse("pagerduty", trigger)
    ack = {"routing_key": trigger["routing_key"], "event_action": "acknowledge", "dedup_key": trigger["dedup_key"]}
    [acked] = parse("pagerduty", ack)
    [resolved] = parse("pagerduty", {**ack, "event_action": "resolve"})
    assert acked.status == AlertStatus.ACKNOWLEDGED and resolved.status == AlertStatus.RESOLVED
    assert acked.project != fired.project  # no payload, so the integration's default...
    assert group_key_of(acked) == group_key_of(resolved) == group_key_of(fired)  # ...yet the same group
    other = {**ack, "dedup_key": "another-incident"}
    assert group_key_of(parse("pagerduty", other)[0]) != group_key_of(fired)


def test_grafana_relative_links_are_resolved_against_external_url_or_dropped():
    payload = fixture("grafana/firing-grafana11-values-zulip.json")
    for alert in payload["alerts"]:
        alert["generatorURL"] = "?orgId=1"
        alert.pop("panelURL", None), alert.pop("dashboardURL", None)
    assert {a.link for a in parse("grafana", payload)} == {"https://play.grafana.org/?orgId=1"}
    payload.pop("externalURL")
    assert {a.link for a in parse("grafana", payload)} == {None}
    payload["alerts"][0]["generatorURL"] = "javascript:alert(1)"
    assert parse("grafana", payload)[0].link is None


def test_grafana_absolute_links_are_kept():
    payload = fixture("grafana/firing-two-alerts-grafana-docs.json")
    assert [a.link for a in parse("grafana", payload)] == [a["generatorURL"] for a in payload["alerts"]]


def test_an_alertmanager_resolution_names_only_its_own_alerts_group():
    firing = parse("alertmanager", fixture("alertmanager/firing-two-alerts-oncall-example.json"))
    assert len({group_key_of(a) for a in firing}) == 2  # each alert of the notification is its own group
    payload = fixture("alertmanager/firing-two-alerts-oncall-example.json")
    payload["status"] = "resolved"
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["status"] = "resolved"
    [resolved] = parse("alertmanager", payload)
    assert resolved.status == AlertStatus.RESOLVED
    assert group_key_of(resolved) == group_key_of(firing[0]) != group_key_of(firing[1])


def test_test_notifications_are_marked_for_the_lifecycle_to_keep_them_quiet():
    [datadog] = parse("datadog", fixture("datadog/custom-payload-test-notification-raw-capture.json"),
                      "custom-payload-test-notification-raw-capture")
    assert datadog.is_test
