"""Commands on a group from the API: the GroupCommand a request becomes, the outcome rows grouping's
answers make, what `?wait=true` answers, and the lifecycle in the group row and its timeline."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from signalcraft_schemas import Envelope
from signalcraft_schemas.events import (
    EscalationCancelled, EventData, GroupAcknowledged, GroupAction, GroupCommandRejected, GroupReopened, GroupResolved,
    GroupSnoozed, GroupStatus, GroupUpdated, SlackReply,
)
from signalcraft_query_api.domain.commands import (
    CommandRequest, GroupRef, InvalidCommand, accepted, api_actor, group_command, outcome_answer, snooze_end,
)
from signalcraft_query_api.domain.projection import command_outcome_row, group_row, timeline_entry

from ..builders import GROUP_ID, GROUP_KEY, WORKSPACE, at, make_group

REF = GroupRef(GROUP_ID, WORKSPACE, GROUP_KEY)
CID = UUID(int=77)


def wrap(data: EventData) -> Envelope[Any]:
    return Envelope.wrap(data, workspace_id=WORKSPACE, key=GROUP_KEY, correlation_id="api:1", occurred_at=at(5))


def test_an_ack_request_becomes_a_command_to_the_groups_key_with_its_actor():
    command = group_command(REF, CommandRequest("ack", by="alice"), now=at(0), command_id=CID)
    assert (command.action, command.actor, command.group_id, command.group_key, command.snooze_until) == (
        GroupAction.ACK, "api:alice", GROUP_ID, GROUP_KEY, None)
    assert api_actor(None) == api_actor("  ") == "api:admin"


@pytest.mark.parametrize(("duration", "seconds"), [("90s", 90), ("4h", 14400), ("PT15M", 900), (30, 1800)])
def test_a_snooze_lasts_the_duration_asked_for(duration, seconds):
    command = group_command(REF, CommandRequest("snooze", duration=duration), now=at(0), command_id=CID)
    assert command.snooze_until == at(0) + timedelta(seconds=seconds)


def test_a_snooze_until_a_time_and_the_requests_that_cannot_be_commands():
    assert snooze_end(CommandRequest("snooze", until=at(60)), at(0)) == at(60)
    for bad in (CommandRequest("snooze"), CommandRequest("snooze", duration="soon"),
                CommandRequest("snooze", until=at(-1)), CommandRequest("snooze", until=at(60).replace(tzinfo=None))):
        with pytest.raises(InvalidCommand):
            snooze_end(bad, at(0))
    with pytest.raises(InvalidCommand, match="unknown action"):
        group_command(REF, CommandRequest("silence"), now=at(0), command_id=CID)


def test_grouping_answers_become_command_outcomes():
    acked = make_group(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="api:alice")
    row = command_outcome_row(wrap(GroupAcknowledged(group=acked, by="api:alice", command_id=CID)))
    assert row == {"command_id": CID, "group_id": GROUP_ID, "workspace_id": WORKSPACE, "action": "ack",
                   "outcome": "applied", "event": "group.acknowledged", "reason": None, "by": "api:alice", "at": at(5)}
    resolved = GroupResolved(group=make_group(status=GroupStatus.RESOLVED), reason="manual", by="api:bob", command_id=CID)
    assert command_outcome_row(wrap(resolved))["action"] == "resolve"
    rejected = GroupCommandRejected(command_id=CID, group_id=GROUP_ID, group_key=GROUP_KEY, action=GroupAction.ACK,
                                    reason="already_resolved", by="api:alice")
    assert command_outcome_row(wrap(rejected)) | {} == {
        "command_id": CID, "group_id": GROUP_ID, "workspace_id": WORKSPACE, "action": "ack", "outcome": "rejected",
        "event": "group.command_rejected", "reason": "already_resolved", "by": "api:alice", "at": at(5)}


def test_events_that_answer_no_command_make_no_outcome():
    assert command_outcome_row(wrap(GroupAcknowledged(group=make_group(), by="pagerduty"))) is None
    assert command_outcome_row(wrap(GroupUpdated(group=make_group(), alerts_added=1))) is None


def test_waiting_answers_200_applied_409_rejected_or_202_still_pending():
    command = group_command(REF, CommandRequest("ack"), now=at(0), command_id=CID)
    assert outcome_answer(None, command) == (202, accepted(command) | {"status": "pending"})
    status, body = outcome_answer({"outcome": "applied", "event": "group.acknowledged", "group": {"status": "acknowledged"}},
                                  command)
    assert status == 200 and body["group"] == {"status": "acknowledged"} and body["command_id"] == str(CID)
    status, body = outcome_answer({"outcome": "rejected", "event": "group.command_rejected",
                                   "reason": "already_resolved", "group": None}, command)
    assert (status, body["reason"], body["status"]) == (409, "already_resolved", "rejected")


def test_the_group_row_shows_the_lifecycle():
    snoozed = make_group(status=GroupStatus.SNOOZED, snoozed_until=at(60), reopen_count=2, flapping=True, is_test=True,
                         assignee="bob")
    row = group_row(wrap(GroupSnoozed(group=snoozed, until=at(60), by="api:alice")))
    assert (row["status"], row["snoozed_until"], row["reopen_count"], row["flapping"], row["is_test"], row["assignee"]) == (
        "snoozed", at(60), 2, True, True, "bob")
    reopened = group_row(wrap(GroupReopened(group=make_group(reopen_count=3), flap_count=3, flapping=False)))
    assert reopened["resolved_at"] is None and reopened["reopen_count"] == 3
    acked = group_row(wrap(GroupAcknowledged(group=make_group(acknowledged_by="slack:T/U"), by="slack:T/U")))
    assert (acked["acknowledged_at"], acked["acknowledged_by"]) == (at(5), "slack:T/U")


def test_the_timeline_says_who_did_what_and_keeps_reply_addresses_out():
    entry = timeline_entry(wrap(GroupSnoozed(group=make_group(status=GroupStatus.SNOOZED), until=at(60),
                                             by="api:alice", command_id=CID, reason="deploy")))
    assert entry["kind"] == "snoozed"
    assert entry["detail"] | {} == {"count": 1, "severity": "high", "status": "snoozed", "by": "api:alice",
                                    "until": at(60).isoformat().replace("+00:00", "Z"), "command_id": str(CID),
                                    "reason": "deploy"}
    cancelled = timeline_entry(wrap(EscalationCancelled(group_id=GROUP_ID, group_key=GROUP_KEY, by="slack:T/U",
                                                        reason="acknowledged")))
    assert (cancelled["kind"], cancelled["group_id"], cancelled["detail"]["by"]) == (
        "escalation_cancelled", GROUP_ID, "slack:T/U")
    reply = SlackReply(response_url="https://hooks.slack.com/actions/x")
    rejected = timeline_entry(wrap(GroupCommandRejected(command_id=CID, group_id=GROUP_ID, group_key=GROUP_KEY,
                                                        action=GroupAction.ACK, reason="already_resolved",
                                                        by="slack:T/U", reply_to=reply)))
    assert rejected["kind"] == "command_rejected" and "reply_to" not in rejected["detail"]
    assert rejected["detail"]["reason"] == "already_resolved"
