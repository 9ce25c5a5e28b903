"""The group lifecycle: every state with every input, checked against docs/lifecycle.md's state table,
then the rules the table cannot show (flapping, the snooze's silent count, replacement, stale timers)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from signalcraft_schemas import AlertStatus
from signalcraft_schemas.events import (
    SNOOZE_EXPIRED_ACTOR, GroupAction, GroupCommand, GroupCommandRejected, GroupOpened, GroupReopened, GroupResolved,
    GroupSnapshot, GroupSnoozed, GroupStatus, GroupUnsnoozed, GroupUpdated, SlackReply,
)
from signalcraft_grouping.domain.group import (
    NO_HISTORY, FlapPolicy, Lifecycle, close_quiet, decide, decide_command, evolve, evolve_lifecycle,
)

from ..builders import GROUP_KEY, at, gid, make_alert, make_group, minutes

TABLE = Path(__file__).resolve().parents[3] / "docs" / "lifecycle.md"
WINDOW = minutes(60)
NEW_ID = gid(99)
SNOOZED_UNTIL = at(120)

STATES: dict[str, GroupSnapshot | None] = {
    "no group": None,
    "open": make_group(last_seen_at=at(0)),
    "acknowledged": make_group(status=GroupStatus.ACKNOWLEDGED, acknowledged_by="api:alice", acknowledged_at=at(0)),
    "snoozed": make_group(status=GroupStatus.SNOOZED, snoozed_until=SNOOZED_UNTIL),
    "resolved": make_group(status=GroupStatus.RESOLVED, resolved_at=at(0)),
}


def command(action: GroupAction, **overrides) -> GroupCommand:
    fields = {"command_id": UUID(int=42), "group_id": gid(1), "group_key": GROUP_KEY, "action": action,
              "actor": "api:alice"}
    return GroupCommand(**(fields | overrides))


def alert_at(minute: float, **fields):
    def run(group: GroupSnapshot | None):
        return decide(group, make_alert(**fields), group_key=GROUP_KEY, received_at=at(minute), window=WINDOW,
                      new_group_id=NEW_ID)
    return run


def by_command(action: GroupAction, now: datetime = at(10), **fields):
    def run(group: GroupSnapshot | None):
        return decide_command(group, command(action, **fields), now=now)
    return run


# The table's rows, by the words they start with, and how to feed each input to the domain.
INPUTS = {
    "alert fires, within the dedup window": alert_at(10),
    "alert fires, after the dedup window": alert_at(100),
    "source resolves": alert_at(10, status=AlertStatus.RESOLVED),
    "provider acknowledges": alert_at(10, status=AlertStatus.ACKNOWLEDGED, source="pagerduty"),
    "provider snoozes": alert_at(10, status=AlertStatus.SNOOZED, snoozed_until=at(300)),
    "provider assigns": alert_at(10, status=AlertStatus.ASSIGNED, assignee="bob@example.com"),
    "command ack": by_command(GroupAction.ACK),
    "command unack": by_command(GroupAction.UNACK),
    "command snooze": by_command(GroupAction.SNOOZE, snooze_until=at(240)),
    "command unsnooze": by_command(GroupAction.UNSNOOZE),
    "snooze expires": by_command(GroupAction.UNSNOOZE, now=at(120), actor=SNOOZE_EXPIRED_ACTOR,
                                 snooze_until=SNOOZED_UNTIL),
    "command resolve": by_command(GroupAction.RESOLVE),
    "command assign": by_command(GroupAction.ASSIGN, assignee="carol@example.com"),
    "command note": by_command(GroupAction.NOTE, note="rolled back the deploy"),
    "quiet past auto-close": lambda group: close_quiet(group, group_id=gid(1), quiet_since=at(0), now=at(24 * 60)),
}


def documented_table() -> dict[tuple[str, str], str]:
    lines = [line for line in TABLE.read_text().splitlines() if line.startswith("|")]
    columns = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    cells = {}
    for line in lines[2:]:
        row, *values = [c.strip() for c in line.strip("|").split("|")]
        [name] = [name for name in INPUTS if row.startswith(name)]
        cells.update({(name, column): value for column, value in zip(columns, values, strict=True)})
    return cells


CELLS = documented_table()


def test_the_table_covers_every_state_with_every_input():
    assert set(CELLS) == {(row, column) for row in INPUTS for column in STATES}


@pytest.mark.parametrize(("row", "column"), sorted(CELLS))
def test_every_cell_of_the_state_table_is_what_the_domain_decides(row, column):
    cell, group = CELLS[(row, column)], STATES[column]
    events = INPUTS[row](group)
    if cell == "—":
        assert events == []
        return
    if cell.startswith("rejected:"):
        [rejected] = events
        assert isinstance(rejected, GroupCommandRejected)
        assert rejected.reason == cell.removeprefix("rejected:").strip()
        assert evolve(group, rejected) is group  # a rejection changes nothing
        return
    assert [type(e).__name__ for e in events] == re.findall(r"`(\w+)`", cell)
    final = events[-1].group
    assert final.status == GroupStatus(re.search(r"→ (\w+)", cell).group(1))
    if "new group" in cell:
        assert final.group_id == NEW_ID
    elif group is not None:
        assert final.group_id == group.group_id


def test_commands_carry_their_actor_and_id_and_a_rejection_the_reply_address():
    reply = SlackReply(response_url="https://hooks.slack.com/actions/T1/1/x", channel="C1", user="U1")
    [ack] = decide_command(STATES["open"], command(GroupAction.ACK, actor="slack:T1/U1"), now=at(3))
    assert (ack.by, ack.command_id, ack.group.acknowledged_by, ack.group.acknowledged_at) == (
        "slack:T1/U1", UUID(int=42), "slack:T1/U1", at(3))
    [late] = decide_command(STATES["resolved"], command(GroupAction.ACK, reply_to=reply), now=at(3))
    assert (late.reason, late.reply_to, late.action, late.group) == ("already_resolved", reply, GroupAction.ACK,
                                                                      STATES["resolved"])
    [resolved] = decide_command(STATES["snoozed"], command(GroupAction.RESOLVE), now=at(4))
    assert (resolved.reason, resolved.by, resolved.group.resolved_by, resolved.group.snoozed_until) == (
        "manual", "api:alice", "api:alice", None)


def test_a_command_about_a_replaced_group_is_rejected_as_already_resolved():
    successor = make_group(group_id=gid(2))
    [rejected] = decide_command(successor, command(GroupAction.ACK, group_id=gid(1)), now=at(1))
    assert rejected.reason == "already_resolved" and rejected.group is None


def test_a_snooze_ending_in_the_past_and_a_stale_snooze_timer_are_rejected():
    [past] = decide_command(STATES["open"], command(GroupAction.SNOOZE, snooze_until=at(5)), now=at(5))
    assert past.reason == "snooze_until_in_the_past"
    extended = STATES["snoozed"].model_copy(update={"snoozed_until": at(500)})
    [stale] = decide_command(extended, command(GroupAction.UNSNOOZE, actor=SNOOZE_EXPIRED_ACTOR,
                                               snooze_until=SNOOZED_UNTIL), now=at(120))
    assert stale.reason == "snooze_changed"


def test_a_snooze_command_needs_its_end():
    with pytest.raises(ValueError, match="snooze_until"):
        command(GroupAction.SNOOZE)


# --- the snooze counts silently, and its expiry says whether it fired meanwhile --------------


def fold(group, lifecycle, events):
    for event in events:
        lifecycle, group = evolve_lifecycle(lifecycle, group, event), evolve(group, event)
    return group, lifecycle


def test_a_snoozed_group_counts_repeats_and_its_expiry_reports_them():
    group, lifecycle = fold(STATES["open"], NO_HISTORY,
                            decide_command(STATES["open"], command(GroupAction.SNOOZE, snooze_until=at(30)), now=at(1)))
    for minute in (2, 3, 4):
        [update] = decide(group, make_alert(), group_key=GROUP_KEY, received_at=at(minute), window=WINDOW,
                          new_group_id=NEW_ID)
        assert isinstance(update, GroupUpdated) and update.group.status == GroupStatus.SNOOZED
        group, lifecycle = fold(group, lifecycle, [update])
    assert lifecycle.fired_during_snooze == 3
    [expired] = decide_command(group, command(GroupAction.UNSNOOZE, actor=SNOOZE_EXPIRED_ACTOR, snooze_until=at(30)),
                               now=at(30), lifecycle=lifecycle)
    assert isinstance(expired, GroupUnsnoozed)
    assert (expired.reason, expired.fired_during_snooze, expired.group.status) == ("expired", 3, GroupStatus.OPEN)
    assert fold(group, lifecycle, [expired])[1].fired_during_snooze == 0


def test_a_quiet_snooze_expires_without_anything_to_report():
    group, lifecycle = fold(STATES["open"], NO_HISTORY,
                            decide_command(STATES["open"], command(GroupAction.SNOOZE, snooze_until=at(30)), now=at(1)))
    [expired] = decide_command(group, command(GroupAction.UNSNOOZE, actor=SNOOZE_EXPIRED_ACTOR, snooze_until=at(30)),
                               now=at(30), lifecycle=lifecycle)
    assert expired.fired_during_snooze == 0 and expired.reason == "expired"


def test_sentry_ignore_without_a_limit_snoozes_until_unsnoozed():
    [snoozed] = decide(STATES["open"], make_alert(status=AlertStatus.SNOOZED), group_key=GROUP_KEY,
                       received_at=at(1), window=WINDOW, new_group_id=NEW_ID)
    assert isinstance(snoozed, GroupSnoozed)
    assert (snoozed.until, snoozed.by, snoozed.group.status) == (None, "sentry", GroupStatus.SNOOZED)
    assert decide(snoozed.group, make_alert(status=AlertStatus.SNOOZED), group_key=GROUP_KEY, received_at=at(2),
                  window=WINDOW, new_group_id=NEW_ID) == []  # the same snooze again changes nothing


# --- reopening and flapping -------------------------------------------------------------------

FLAPS = FlapPolicy(threshold=3, window=minutes(60), quiet=minutes(30))


def cycle(group, lifecycle, fire_at: float, resolve_at: float):
    """The source fires then resolves: the events of both, and the state after."""
    decided = []
    for minute, status in ((fire_at, AlertStatus.FIRING), (resolve_at, AlertStatus.RESOLVED)):
        events = decide(group, make_alert(status=status), group_key=GROUP_KEY, received_at=at(minute), window=WINDOW,
                        new_group_id=gid(int(minute) + 100), lifecycle=lifecycle, flapping=FLAPS)
        group, lifecycle = fold(group, lifecycle, events)
        decided += events
    return decided, group, lifecycle


def test_fire_and_resolve_ten_times_within_the_window_is_one_group_that_turns_flapping():
    group, lifecycle, reopens = None, NO_HISTORY, []
    for n in range(10):
        decided, group, lifecycle = cycle(group, lifecycle, 6 * n, 6 * n + 3)
        reopens += [e for e in decided if isinstance(e, GroupReopened)]
    assert group.group_id == gid(100) and group.count == 10 and group.reopen_count == 9
    assert [r.flap_count for r in reopens] == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert [r.flapping for r in reopens] == [False] * 3 + [True] * 6  # more than 3 within the hour


def test_flap_count_only_counts_reopens_within_the_flap_window():
    lifecycle = Lifecycle(reopened_at=(at(0), at(10), at(20)))
    resolved = STATES["resolved"].model_copy(update={"last_seen_at": at(65), "reopen_count": 3})
    [reopen] = decide(resolved, make_alert(), group_key=GROUP_KEY, received_at=at(70), window=WINDOW,
                      new_group_id=NEW_ID, lifecycle=lifecycle, flapping=FLAPS)
    assert (reopen.flap_count, reopen.flapping, reopen.group.reopen_count) == (3, False, 4)  # at(0) is too old


def test_a_flapping_group_stays_flapping_until_it_has_been_quiet():
    flapping = STATES["resolved"].model_copy(update={"flapping": True, "last_seen_at": at(0)})
    [soon] = decide(flapping, make_alert(), group_key=GROUP_KEY, received_at=at(10), window=WINDOW,
                    new_group_id=NEW_ID, flapping=FLAPS)
    assert isinstance(soon, GroupReopened) and soon.flapping and soon.flap_count == 1
    [after_quiet] = decide(flapping, make_alert(), group_key=GROUP_KEY, received_at=at(45), window=WINDOW,
                           new_group_id=NEW_ID, flapping=FLAPS)
    assert isinstance(after_quiet, GroupReopened) and not after_quiet.flapping
    open_flapping = flapping.model_copy(update={"status": GroupStatus.OPEN})
    [update] = decide(open_flapping, make_alert(), group_key=GROUP_KEY, received_at=at(40), window=WINDOW,
                      new_group_id=NEW_ID, flapping=FLAPS)
    assert not update.group.flapping


def test_a_reopen_clears_acknowledgement_snooze_and_resolution():
    resolved = make_group(status=GroupStatus.RESOLVED, resolved_at=at(1), resolved_by="api:alice",
                          acknowledged_by="api:bob", acknowledged_at=at(0), count=4)
    [reopen] = decide(resolved, make_alert(), group_key=GROUP_KEY, received_at=at(5), window=WINDOW, new_group_id=NEW_ID)
    g = reopen.group
    assert (g.status, g.count, g.resolved_at, g.resolved_by, g.acknowledged_by, g.reopen_count) == (
        GroupStatus.OPEN, 5, None, None, None, 1)


def test_a_resolve_only_resolves_its_own_group():
    """Alertmanager sends every alert of a group with its own fingerprint: its group key. A resolved
    alert reaches its own key's group and nothing else."""
    other = make_group(group_id=gid(2), group_key="another-key")
    [resolved] = decide(STATES["open"], make_alert(status=AlertStatus.RESOLVED), group_key=GROUP_KEY,
                        received_at=at(1), window=WINDOW, new_group_id=NEW_ID)
    assert resolved.group.group_id == gid(1) and other.status == GroupStatus.OPEN


def test_a_test_notification_opens_a_group_marked_as_a_test():
    [opened] = decide(None, make_alert(is_test=True), group_key=GROUP_KEY, received_at=at(0), window=WINDOW,
                      new_group_id=NEW_ID)
    assert isinstance(opened, GroupOpened) and opened.group.is_test


def test_a_replaced_group_ends_resolved_before_its_successor_opens():
    acked = STATES["acknowledged"].model_copy(update={"last_seen_at": at(0)})
    closed, opened = decide(acked, make_alert(), group_key=GROUP_KEY, received_at=at(61), window=WINDOW,
                            new_group_id=NEW_ID)
    assert isinstance(closed, GroupResolved) and closed.reason == "replaced"
    assert (closed.group.group_id, closed.group.status, closed.group.resolved_at) == (gid(1), GroupStatus.RESOLVED, at(61))
    assert isinstance(opened, GroupOpened) and opened.group.group_id == NEW_ID


def test_assign_and_note_commands_carry_who_what_and_the_command_id():
    group = make_group(assignee="bob@example.com")
    [assigned] = decide_command(group, command(GroupAction.ASSIGN, assignee="carol@example.com"), now=at(10))
    assert (assigned.assignee, assigned.group.assignee, assigned.by, assigned.command_id) == (
        "carol@example.com", "carol@example.com", "api:alice", UUID(int=42))
    [unassigned] = decide_command(group, command(GroupAction.ASSIGN, assignee=None), now=at(10))
    assert unassigned.assignee is None and unassigned.group.assignee is None
    [again] = decide_command(group, command(GroupAction.ASSIGN, assignee="bob@example.com"), now=at(10))
    assert isinstance(again, GroupCommandRejected) and again.reason == "already_assigned"
    [note] = decide_command(group, command(GroupAction.NOTE, note="  rolled back  "), now=at(10))
    assert (note.text, note.by, note.note_id, note.group) == ("rolled back", "api:alice", UUID(int=42), group)


def test_a_note_needs_its_text_and_a_replaced_group_takes_none():
    with pytest.raises(ValueError, match="note needs its text"):
        command(GroupAction.NOTE, note="  ")
    [rejected] = decide_command(make_group(group_id=gid(2)), command(GroupAction.NOTE, note="x"), now=at(10))
    assert isinstance(rejected, GroupCommandRejected) and rejected.reason == "already_resolved"
