"""Read-model projection: which rows and timeline entries each event becomes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    AlertNormalized, EscalationFired, EventData, GroupAcknowledged, GroupOpened, GroupResolved, GroupStatus,
    GroupUpdated, MessageDeadLettered, NotificationDelivered, NotificationFailed, NotificationKind, WebhooksThrottled,
)
from signalcraft_query_api.domain.projection import (
    alert_row, dead_letter_row, group_route, group_row, merged_group_rows, notification_requested_row,
    notification_result_row, throttled_activity, timeline_entry, webhook_activity,
)

from ..builders import GROUP_ID, GROUP_KEY, T0, WORKSPACE, at, make_alert, make_group, make_request

REQUEST_ID = UUID("00000000-0000-7000-8000-00000000abcd")


def wrap(data: EventData, occurred_at=T0, workspace_id: str = WORKSPACE) -> Envelope[Any]:
    return Envelope.wrap(data, workspace_id=workspace_id, key=GROUP_KEY, correlation_id="delivery-1",
                         occurred_at=occurred_at)


def normalized(integration_id: str = "sen-1", received_at=T0, workspace_id: str = WORKSPACE) -> Envelope[Any]:
    return wrap(AlertNormalized(alert=make_alert(), group_key=GROUP_KEY, integration_id=integration_id,
                                delivery_id="d-1"), received_at, workspace_id)


def test_an_alert_row_has_the_alert_its_source_and_when_it_was_received():
    env = normalized(received_at=at(2))
    row = alert_row(env)
    assert row["event_id"] == env.id and row["workspace_id"] == WORKSPACE
    assert (row["integration_id"], row["delivery_id"], row["group_key"]) == ("sen-1", "d-1", GROUP_KEY)
    assert (row["severity"], row["status"]) == ("high", "firing")  # the enum values, as stored
    assert row["tags"] == {"team": "payments"}
    assert (row["occurred_at"], row["received_at"]) == (T0, at(2))


def test_webhook_activity_counts_alerts_and_keeps_the_newest_webhook_per_integration():
    alerts = [alert_row(normalized("sen-1", at(1))), alert_row(normalized("gra-2", at(5), "ws-2")),
              alert_row(normalized("sen-1", at(3))), alert_row(normalized("sen-1", at(2)))]
    assert webhook_activity(alerts) == [
        {"integration_id": "sen-1", "workspace_id": WORKSPACE, "last_webhook_at": at(3), "alerts_total": 3},
        {"integration_id": "gra-2", "workspace_id": "ws-2", "last_webhook_at": at(5), "alerts_total": 1},
    ]
    assert webhook_activity([]) == []


def test_throttled_webhooks_add_to_the_integrations_throttled_total():
    env = wrap(WebhooksThrottled(integration_id="sen-1", count=12, first_at=at(1), last_at=at(4)))
    assert throttled_activity(env) == {"integration_id": "sen-1", "workspace_id": WORKSPACE, "alerts_total": 0,
                                       "throttled_total": 12, "last_throttled_at": at(4)}


def test_a_group_row_is_the_snapshot_and_stamps_acknowledgement_and_resolution():
    group = make_group(count=7, severity=Severity.CRITICAL)
    opened = group_row(wrap(GroupOpened(group=group)))
    assert opened["group_id"] == GROUP_ID and opened["count"] == 7 and opened["severity"] == "critical"
    assert "acknowledged_at" not in opened and "resolved_at" not in opened
    acked = group_row(wrap(GroupAcknowledged(group=group, by="pagerduty"), at(4)))
    assert acked["acknowledged_at"] == at(4) and "resolved_at" not in acked
    resolved = group_row(wrap(GroupResolved(group=make_group(status=GroupStatus.RESOLVED), reason="manual"), at(9)))
    assert resolved["resolved_at"] == at(9) and resolved["status"] == "resolved"


def test_only_the_first_message_gives_a_group_its_channel_and_runbook():
    first = make_request(kind=NotificationKind.NEW_GROUP, channel="#pay", runbook_url="https://rb/1")
    assert group_route(first) == {"channel": "#pay", "runbook_url": "https://rb/1", "rule_id": "r1",
                                  "quick_actions": []}
    assert group_route(make_request(kind=NotificationKind.UPDATED, channel="#other")) is None
    assert group_route(make_request(kind=NotificationKind.ESCALATION, channel="#lead")) is None


def test_a_request_is_a_pending_notification_keyed_by_its_event():
    env = wrap(make_request(channel="#pay"), at(1))
    assert notification_requested_row(env) == {
        "notification_id": env.id, "workspace_id": WORKSPACE, "group_id": GROUP_ID, "kind": "new_group",
        "channel": "#pay", "status": "requested", "attempts": 0, "requested_at": at(1)}


def test_a_result_is_keyed_by_the_request_it_answers_or_by_itself():
    delivered = notification_result_row(wrap(NotificationDelivered(
        request_id=REQUEST_ID, kind=NotificationKind.NEW_GROUP, group_id=GROUP_ID, channel="#pay", message_ts="1.2",
        attempts=2, latency_ms=125.0), at(1)))
    assert delivered["notification_id"] == REQUEST_ID
    assert (delivered["status"], delivered["error"], delivered["attempts"], delivered["latency_ms"]) == (
        "delivered", None, 2, 125.0)
    assert delivered["finished_at"] == at(1)
    no_route = wrap(NotificationFailed(request_id=None, kind=NotificationKind.NEW_GROUP, group_id=GROUP_ID,
                                       channel=None, error="no_route", attempts=0))
    failed = notification_result_row(no_route)
    assert failed["notification_id"] == no_route.id
    assert (failed["status"], failed["error"], failed["latency_ms"]) == ("failed", "no_route", None)


def test_timeline_entries_name_what_happened_with_the_facts_worth_showing():
    group = make_group(count=3)
    updated = wrap(GroupUpdated(group=group, alerts_added=2), at(1))
    assert timeline_entry(updated) == {
        "event_id": updated.id, "group_id": GROUP_ID, "at": at(1), "kind": "alerts_added",
        "detail": {"count": 3, "severity": Severity.HIGH, "status": GroupStatus.OPEN, "alerts_added": 2}}
    assert timeline_entry(wrap(GroupResolved(group=group, reason="quiet_timeout")))["detail"]["reason"] == "quiet_timeout"
    assert timeline_entry(wrap(GroupAcknowledged(group=group, by="pagerduty")))["detail"]["by"] == "pagerduty"
    assert timeline_entry(wrap(GroupOpened(group=group)))["kind"] == "opened"
    requested = timeline_entry(wrap(make_request(channel="#pay")))
    assert requested["kind"] == "notification_requested" and requested["group_id"] == GROUP_ID
    assert "group" not in requested["detail"] and requested["detail"]["channel"] == "#pay"
    fired = timeline_entry(wrap(EscalationFired(group_id=GROUP_ID, group_key=GROUP_KEY, channel="#lead", level=1,
                                                targets=["<@ULEAD>", "schedule:primary=<@UBOB>"], policy_id="p1")))
    assert fired["kind"] == "escalated"
    assert fired["detail"] == {"group_id": str(GROUP_ID), "group_key": GROUP_KEY, "channel": "#lead", "level": 1,
                               "repeat": 0, "targets": ["<@ULEAD>", "schedule:primary=<@UBOB>"], "policy_id": "p1"}


def test_a_dead_letter_row_says_where_the_message_was_and_why_it_failed():
    env = wrap(MessageDeadLettered(consumer="query-api", topic="alerts.normalized", partition=2, offset=41,
                                   original_key="k", original_type=None, error="ValidationError", payload="{}"))
    assert dead_letter_row(env) == {
        "event_id": env.id, "workspace_id": WORKSPACE, "consumer": "query-api", "topic": "alerts.normalized",
        "partition": 2, "offset": 41, "original_type": None, "error": "ValidationError", "at": T0}


def test_rows_about_one_group_in_a_batch_merge_as_upserting_them_in_turn_would():
    opened = group_row(wrap(GroupOpened(group=make_group(count=1)), at(0)))
    first_ack = group_row(wrap(GroupAcknowledged(group=make_group(count=2, status=GroupStatus.ACKNOWLEDGED),
                                                 by="user:u1"), at(10)))
    second_ack = group_row(wrap(GroupAcknowledged(group=make_group(count=3, status=GroupStatus.ACKNOWLEDGED),
                                                  by="pagerduty"), at(20)))
    replayed = {**group_row(wrap(GroupUpdated(group=make_group(count=2), alerts_added=1), at(30)))}
    resolved = group_row(wrap(GroupResolved(group=make_group(count=3, status=GroupStatus.RESOLVED), reason="manual",
                                            by="user:u2"), at(40)))
    other = {**opened, "group_id": UUID(int=7)}

    merged = merged_group_rows([opened, first_ack, other, second_ack, replayed, resolved])

    assert [row["group_id"] for row in merged] == [GROUP_ID, UUID(int=7)]  # in order of first appearance
    row = merged[0]
    assert row["status"] == "resolved" and row["resolved_at"] == at(40)  # the newest event's columns
    assert row["count"] == 3  # the replayed update's lower count does not move it back
    assert row["acknowledged_at"] == at(10) and row["person_acted_at"] == at(10)  # the first stamps stay
    assert merged[1] == other
    assert merged_group_rows([opened]) == [opened] and merged_group_rows([]) == []
