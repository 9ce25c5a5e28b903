"""Escalation policies and on-call schedules on the real system (issue 10.1, 10.2).

A policy's levels fire one after the other, each exactly once at its deadline (the group's first
notification + the levels' delays), as thread replies broadcast to the group's channel that mention
the level's people; a level naming another channel posts there too; the last level repeats. An ack,
a snooze or a resolve stops it, a reopen arms it again. A kill -9 of the escalator between levels or
at a deadline loses no level and fires none twice. A schedule target mentions whoever is on call when
the level fires. The workspace's default route escalates with its own policy.

Delays are seconds long: the file runs in about 100 s once the stack is up (some 30 s to start it).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta
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

# A notice may come this much after its deadline: the escalator's timer loop, the relay, the notifier's
# reply pacing and a busy 2-core machine. Never before it.
LATE = 6.0


def call(tenant: Tenant, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{tenant.stack.url('query-api')}{path}", timeout=30,
                             headers={"Authorization": f"Bearer {tenant.stack.admin_token}"}, **kwargs)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def add_policy(tenant: Tenant, levels: list[tuple[str, list[str]]], repeat: tuple[str, int] | None = None) -> str:
    body: dict[str, Any] = {"workspace_id": tenant.workspace_id, "name": "policy",
                            "levels": [{"after": after, "targets": targets} for after, targets in levels]}
    if repeat:
        body["repeat"] = {"every": repeat[0], "times": repeat[1]}
    return str(call(tenant, "POST", "/api/escalation-policies", json=body)["policy_id"])


def cli(stack: Stack, *args: str) -> Any:
    env = {"SIGNALCRAFT_API_URL": stack.url("query-api"), "SIGNALCRAFT_ADMIN_TOKEN": stack.admin_token}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if result.output.strip().startswith(("{", "[")) else result.output


def command(tenant: Tenant, group_id: str, action: str, **body: Any) -> dict[str, Any]:
    answer = call(tenant, "POST", f"/api/alert-groups/{group_id}/{action}", params={"wait": "true"}, json=body)
    assert answer["status"] == "applied", answer
    return dict(answer)


async def fire(tenant: Tenant, issue_id: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await send(client, tenant.webhook_url, tenant.secret, event_alert(issue_id))).status_code == 202


def group_of(tenant: Tenant, count: int = 1) -> dict[str, Any]:
    return dict(wait_until(lambda: next((g for g in tenant.groups() if g["count"] >= count), None), 60,
                           what=f"a group of {count}"))


def first_seen(group: dict[str, Any]) -> float:
    return datetime.fromisoformat(group["first_seen_at"]).timestamp()


def message_in(tenant: Tenant, channel: str) -> dict[str, Any]:
    return dict(wait_until(lambda: next((m for m in tenant.slack_messages()
                                         if m["channel"] == channel and not m.get("thread_ts")), None),
                           60, what=f"the group's message in {channel}"))


def group_of_message(message: dict[str, Any]) -> str | None:
    """The group a message is about, from the metadata the notifier marks it with (edits keep it)."""
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("group_id")


def escalation_replies(tenant: Tenant, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The escalation notices in the thread of the group's message, oldest first."""
    return [m for m in tenant.slack_messages()
            if m.get("thread_ts") == message["ts"] and m["channel"] == message["channel"] and "Escalation" in m["text"]]


def timer_state(tenant: Tenant, group_id: str) -> str | None:
    rows = tenant.sql("SELECT state FROM escalator.timers WHERE kind = 'escalation' AND group_id = %s", group_id)
    return rows[0][0] if rows else None


def timeline(tenant: Tenant, group_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in tenant.admin.get(f"/api/alert-groups/{group_id}")["timeline"] if e["kind"] == kind]


def assert_on_time(notices: list[dict[str, Any]], deadlines: list[float]) -> None:
    for notice, deadline in zip(notices, deadlines, strict=True):
        assert deadline - 0.2 <= notice["received_at"] <= deadline + LATE, (
            f"{notice['text']!r} at {notice['received_at'] - deadline:+.1f}s from its deadline")


def no_delivery_half_done(tenant: Tenant) -> None:
    wait_until(lambda: tenant.sql("SELECT count(*) FROM notifier.deliveries WHERE channel LIKE %s AND state = 'sending'",
                                  tenant.channel + "%") == [(0,)], 60, what="no delivery left half-done")


async def test_levels_fire_in_order_each_once_on_time_then_repeat_until_an_ack_stops_them(stack: Stack) -> None:
    tenant = make_tenant(stack)
    pay, leads = f"{tenant.channel}-pay", f"{tenant.channel}-leads"
    policy = add_policy(tenant, [("3s", ["<@UFIRST>"]), ("4s", [leads, "<@ULEAD>"])], repeat=("4s", 3))
    rule = cli(stack, "rule", "add", "--workspace", tenant.workspace_id, "--name", "payments", "--channel", pay,
               "--env", "prod", "--escalation-policy", policy)
    assert rule["escalation_policy_id"] == policy
    await fire(tenant, "8100001")
    group = group_of(tenant)
    gid, t0 = group["group_id"], first_seen(group)
    message = message_in(tenant, pay)
    # Level 1 at t0+3, level 2 at +7, its repeats at +11, +15, +19.
    deadlines = [t0 + 3, t0 + 7, t0 + 11, t0 + 15, t0 + 19]

    replies = wait_until(lambda: (r := escalation_replies(tenant, message)) and len(r) >= 3 and r, 60,
                         what="level 1, level 2 and the first repeat")
    acked = command(tenant, gid, "ack", by="lead")
    assert time.time() < deadlines[3], "the ack came after the second repeat's deadline: too slow a machine"
    wait_until(lambda: timer_state(tenant, gid) == "cancelled", 30, what="the escalation cancelled")
    assert acked["group"]["status"] == "acknowledged"

    l1, l2, r1 = replies[:3]
    assert_on_time([l1, l2, r1], deadlines[:3])
    for reply in (l1, l2, r1):  # thread replies broadcast to the channel
        assert reply["reply_broadcast"] is True and reply["channel"] == pay
    assert l1["text"].startswith("<@UFIRST> Escalation 1: nobody acknowledged")
    assert "<!here>" not in l1["text"] and "<@ULEAD>" not in l1["text"]
    for reply in (l2, r1):
        assert reply["text"].startswith(f"<@ULEAD> {leads} Escalation 2: nobody acknowledged"), reply["text"]
    # Level 2 (and its repeat) also posts a message of its own in the leads' channel, naming the group's.
    in_leads = [m for m in tenant.slack_messages() if m["channel"] == leads]
    assert [m.get("thread_ts") for m in in_leads] == [None, None]
    for notice in in_leads:
        assert notice["text"].startswith("<!here> <@ULEAD> Escalation 2:") and f"(in {pay})" in notice["text"]
    assert_on_time(in_leads, deadlines[1:3])

    # (e) The timeline shows each step: level, repeat, targets; then who stopped it.
    escalated = wait_until(lambda: (e := timeline(tenant, gid, "escalated")) and len(e) == 3 and e, 30,
                           what="three escalations in the timeline")
    assert [(e["detail"]["level"], e["detail"]["repeat"]) for e in escalated] == [(1, 0), (2, 0), (2, 1)]
    assert [e["detail"]["targets"] for e in escalated] == [["<@UFIRST>"], [leads, "<@ULEAD>"], [leads, "<@ULEAD>"]]
    assert {e["detail"]["policy_id"] for e in escalated} == {policy}
    assert {e["step"] for e in escalated} == {"escalated"} and {e["actor"] for e in escalated} == {"escalator"}
    cancelled = wait_until(lambda: timeline(tenant, gid, "escalation_cancelled"), 30, what="the cancellation")
    assert cancelled[0]["detail"]["reason"] == "acknowledged" and cancelled[0]["detail"]["by"] == "api:lead"

    # Nothing observable says "a repeat did not come": wait past the next deadline, then count.
    await asyncio.sleep(max(0.0, deadlines[3] + 2 - time.time()))
    no_delivery_half_done(tenant)
    assert len(escalation_replies(tenant, message)) == 3
    assert len([m for m in tenant.slack_messages() if m["channel"] == leads]) == 2
    assert len(timeline(tenant, gid, "escalated")) == 3
    tenant.admin.close()


async def test_snooze_and_resolve_cancel_a_pending_escalation_and_a_reopen_arms_it_again_unless_flapping(
        stack: Stack) -> None:
    tenant = make_tenant(stack, flap_threshold=1)  # the second reopen within the hour flaps
    policy = add_policy(tenant, [("10s", [tenant.channel])])
    tenant.admin.add_rule(tenant.workspace_id, "all", tenant.channel, escalation_policy_id=policy)
    await fire(tenant, "8200001")
    await fire(tenant, "8200002")
    groups = wait_until(lambda: (g := tenant.groups()) and len(g) == 2 and g, 60, what="two groups")
    snoozed, resolved = sorted(groups, key=lambda g: g["title"])  # issue 8200001, issue 8200002
    for group in groups:
        wait_until(lambda: timer_state(tenant, group["group_id"]) == "pending", 30, what="the escalation armed")

    command(tenant, snoozed["group_id"], "snooze", duration="1h", by="sam")
    command(tenant, resolved["group_id"], "resolve", by="rae")
    assert time.time() < first_seen(snoozed) + 10, "the commands came after the deadline: too slow a machine"
    messages = {g["group_id"]: wait_until(lambda: next((m for m in tenant.slack_messages() if not m.get("thread_ts")
                                                        and group_of_message(m) == g["group_id"]), None),
                                          60, what="the group's message") for g in groups}
    for group, reason, by in ((snoozed, "snoozed", "api:sam"), (resolved, "resolved", "api:rae")):
        wait_until(lambda: timer_state(tenant, group["group_id"]) != "pending", 30, what=f"cancelled by {reason}")
        assert timer_state(tenant, group["group_id"]) == "cancelled"
        entry = wait_until(lambda: timeline(tenant, group["group_id"], "escalation_cancelled"), 30,
                           what=f"the {reason} cancellation in the timeline")
        assert (entry[0]["detail"]["reason"], entry[0]["detail"]["by"]) == (reason, by)

    # The resolved group fires again: it reopens and its escalation starts again from level 1, from now.
    reopened_at = time.time()
    await fire(tenant, "8200002")
    wait_until(lambda: timeline(tenant, resolved["group_id"], "reopened"), 60, what="the reopen")
    again = wait_until(lambda: escalation_replies(tenant, messages[resolved["group_id"]]), 60,
                       what="the re-armed escalation")
    assert again[0]["received_at"] >= reopened_at + 10 - 0.2
    assert again[0]["text"].startswith("<!here> Escalation 1:") and again[0]["reply_broadcast"] is True
    # By now the first deadline of both groups is long past: neither escalated before its cancel.
    no_delivery_half_done(tenant)
    assert escalation_replies(tenant, messages[snoozed["group_id"]]) == []
    assert len(escalation_replies(tenant, messages[resolved["group_id"]])) == 1
    # The timeline is a read model: it may show the escalation a moment after Slack got it.
    escalated = wait_until(lambda: timeline(tenant, resolved["group_id"], "escalated"), 30, what="the escalation")
    assert [e["detail"]["level"] for e in escalated] == [1]
    assert timeline(tenant, snoozed["group_id"], "escalated") == []

    # Resolved and firing once more: a second reopen, flapping, arms no escalation.
    command(tenant, resolved["group_id"], "resolve", by="rae")
    await fire(tenant, "8200002")
    [flapping] = wait_until(lambda: [r for r in tenant.slack_messages() if r.get("thread_ts") == messages[
        resolved["group_id"]]["ts"] and "flap 2" in r["text"]], 60, what="the flapping reopen's reply")
    assert "flapping" in json.dumps(flapping["blocks"]) and "<!here>" not in flapping["text"]
    # The router asks for the reply and (were it not flapping) the escalation in one transaction:
    # both are out by now, but read by query-api from two topics, so give the other a moment.
    wait_until(lambda: len(timeline(tenant, resolved["group_id"], "escalation_armed")) >= 2, 30,
               what="the first escalation and reopen 1's in the timeline")
    await asyncio.sleep(1.0)
    assert len(timeline(tenant, resolved["group_id"], "escalation_armed")) == 2  # the first, and reopen 1
    assert timer_state(tenant, resolved["group_id"]) == "fired"
    tenant.admin.close()


def restart(stack: Stack, name: str) -> None:
    stack.start_service(name)
    stack.wait_ready(name)


async def test_kill_9_of_the_escalator_between_levels_and_at_a_deadline_fires_each_level_exactly_once(
        stack: Stack) -> None:
    tenant = make_tenant(stack)
    policy = add_policy(tenant, [("3s", ["<@UONE>"]), ("9s", ["<@UTWO>"])], repeat=("3s", 1))
    tenant.admin.add_rule(tenant.workspace_id, "all", tenant.channel, escalation_policy_id=policy)
    try:
        await fire(tenant, "8300001")
        group = group_of(tenant)
        gid, t0 = group["group_id"], first_seen(group)
        deadlines = [t0 + 3, t0 + 12, t0 + 15]
        message = message_in(tenant, tenant.channel)

        # Between levels: right after level 1 reached Slack, with level 2 pending.
        wait_until(lambda: escalation_replies(tenant, message), 60, what="level 1")
        stack.kill9("escalator")
        await asyncio.to_thread(restart, stack, "escalator")
        # Near a deadline: a moment before level 2 is due, so that it falls due while the escalator is down
        # (and the repeat after it too, by the time it is back).
        await asyncio.sleep(max(0.0, deadlines[1] - 0.3 - time.time()))
        stack.kill9("escalator")
        await asyncio.to_thread(restart, stack, "escalator")

        wait_until(lambda: timer_state(tenant, gid) == "fired", 60, what="the policy's last step fired")
        wait_until(lambda: len(escalation_replies(tenant, message)) >= 3, 60, what="level 2 and the repeat")
        no_delivery_half_done(tenant)
        escalated = wait_until(lambda: (e := timeline(tenant, gid, "escalated")) and len(e) >= 3 and e, 30,
                               what="three escalations in the timeline")
        assert [(e["detail"]["level"], e["detail"]["repeat"]) for e in escalated] == [(1, 0), (2, 0), (2, 1)]
        replies = escalation_replies(tenant, message)
        assert [r["text"].split(" Escalation")[0] for r in replies] == ["<@UONE>", "<@UTWO>", "<@UTWO>"]
        for reply, deadline in zip(replies, deadlines, strict=True):  # none early; late by the downtime only
            assert reply["received_at"] >= deadline - 0.2
    finally:
        if not stack.processes["escalator"].alive():
            await asyncio.to_thread(restart, stack, "escalator")
        tenant.admin.close()


async def test_a_schedule_target_mentions_whoever_is_on_call_when_the_level_fires(stack: Stack) -> None:
    tenant = make_tenant(stack)
    schedule_body = {"workspace_id": tenant.workspace_id, "name": "primary", "users": ["<@UALICE>", "<@UCAROL>"],
                     "time_zone": "Europe/Berlin", "start_date": (date.today() - timedelta(days=3)).isoformat(),
                     "handoff_time": "09:00", "shift": "daily"}
    schedule = call(tenant, "POST", "/api/schedules", json=schedule_body)["schedule_id"]
    policy = add_policy(tenant, [("10s", [f"schedule:{schedule}"])])
    tenant.admin.add_rule(tenant.workspace_id, "all", tenant.channel, escalation_policy_id=policy)
    await fire(tenant, "8400001")
    group = group_of(tenant)
    gid = group["group_id"]
    wait_until(lambda: timer_state(tenant, gid) == "pending", 30, what="the escalation armed")
    rotation = call(tenant, "GET", f"/api/schedules/{schedule}/oncall")  # Alice or Carol, by the day
    assert rotation["user"] in ("<@UALICE>", "<@UCAROL>") and not rotation["override"], rotation

    # After the escalation was armed, Bob takes over for an hour: the level must find him, not Alice.
    now = datetime.now(UTC)
    override = {"user": "<@UBOB>", "start": (now - timedelta(minutes=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat()}
    call(tenant, "PUT", f"/api/schedules/{schedule}", json=schedule_body | {"overrides": [override]})
    assert time.time() < first_seen(group) + 8, "the override came too close to the deadline: too slow a machine"
    oncall = call(tenant, "GET", f"/api/schedules/{schedule}/oncall")
    assert oncall["user"] == "<@UBOB>" and oncall["override"], oncall
    later = call(tenant, "GET", f"/api/schedules/{schedule}/oncall",
                 params={"at": (now + timedelta(hours=2)).isoformat()})
    assert later["user"] in ("<@UALICE>", "<@UCAROL>") and not later["override"], later
    shown = cli(stack, "schedule", "show", schedule, "--next", "3")
    lines = shown.strip().splitlines()
    assert "on call now <@UBOB>" in lines[0] and "Europe/Berlin" in lines[0] and len(lines) == 4, shown

    message = message_in(tenant, tenant.channel)
    [notice] = wait_until(lambda: escalation_replies(tenant, message), 60, what="level 1")
    assert notice["text"].startswith("<@UBOB> Escalation 1:") and rotation["user"] not in notice["text"], notice["text"]
    assert notice["reply_broadcast"] is True
    [escalated] = wait_until(lambda: timeline(tenant, gid, "escalated"), 30, what="the escalation in the timeline")
    assert escalated["detail"]["targets"] == [f"schedule:{schedule}=<@UBOB>"]
    tenant.admin.close()


async def test_the_default_routes_policy_set_with_the_cli_escalates_a_group_no_rule_matched(stack: Stack) -> None:
    tenant = make_tenant(stack)
    policy = cli(stack, "policy", "add", "--workspace", tenant.workspace_id, "--name", "default",
                 "--level", "3s=<@UDEFAULT>")["policy_id"]
    cli(stack, "workspace", "update", tenant.workspace_id, "--escalation-policy", policy)
    [row] = [w for w in cli(stack, "workspace", "list") if w["workspace_id"] == tenant.workspace_id]
    assert row["escalation_policy_id"] == policy and row["default_channel"] == tenant.channel
    # A rule that does not match (staging only), with a policy of its own that must not apply.
    other = add_policy(tenant, [("2s", ["<@URULE>"])])
    cli(stack, "rule", "add", "--workspace", tenant.workspace_id, "--name", "staging", "--env", "staging",
        "--channel", f"{tenant.channel}-staging", "--escalation-policy", other)

    await fire(tenant, "8500001")
    group = group_of(tenant)
    message = message_in(tenant, tenant.channel)
    [notice] = wait_until(lambda: escalation_replies(tenant, message), 60, what="the default route's escalation")
    assert notice["text"].startswith("<@UDEFAULT> Escalation 1:") and notice["reply_broadcast"] is True
    assert notice["received_at"] >= first_seen(group) + 3 - 0.2
    [escalated] = wait_until(lambda: timeline(tenant, group["group_id"], "escalated"), 30, what="the timeline entry")
    assert escalated["detail"]["policy_id"] == policy and escalated["detail"]["targets"] == ["<@UDEFAULT>"]
    assert not [m for m in tenant.slack_messages() if m["channel"] == f"{tenant.channel}-staging"]

    # Taken off again: a new group on the default route no longer escalates (its timer is never armed).
    cli(stack, "workspace", "update", tenant.workspace_id, "--no-escalation-policy")
    [row] = [w for w in cli(stack, "workspace", "list") if w["workspace_id"] == tenant.workspace_id]
    assert row["escalation_policy_id"] is None
    tenant.admin.close()
