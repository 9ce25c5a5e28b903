"""The notifier's delivery decisions: which lane a request takes and in which order, which Slack
call it becomes, when to look for a message posted before a crash, how a batch's rewrites
coalesce, and which event records the outcome."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from signalcraft_notifier.domain.delivery import (
    SENDING, Attempt, GroupMessage, Lane, Outcome, Pending, coalesced_rewrites, handed_over, is_finished, lane_of,
    may_have_posted_before, plan_ephemeral, plan_post, plan_rewrite, posted_original, priority, response_url_allowed,
    result_event, rewrites_message, settled,
)
from signalcraft_schemas import Envelope, Severity
from signalcraft_schemas.events import (
    GroupStatus, NotificationDelivered, NotificationFailed, NotificationKind, SlackReply,
)

from ..builders import T0, make_group, make_request

ORIGINAL = GroupMessage("#orig", "1700000000.000100")
K = NotificationKind


def pending(kind: NotificationKind, prior: str | None = None, outcome: Outcome | None = None,
            lane: Lane | None = None, **request) -> Pending:
    request.setdefault("group", make_group(last_seen_at=T0 + timedelta(minutes=1)))
    made = make_request(kind=kind, **request)
    env = Envelope.wrap(made, workspace_id="ws", key="k", correlation_id="c", occurred_at=T0)
    return Pending(env, made, prior, T0, outcome, lane or lane_of(made, None))


def test_a_new_group_is_posted_to_the_rule_channel_and_tagged_with_its_group() -> None:
    call = plan_post(make_request(kind=K.NEW_GROUP), "ws", None)
    assert (call.method, call.channel, call.ts, call.thread_ts, call.broadcast) == ("chat.postMessage", "#alerts",
                                                                                     None, None, False)
    assert (call.group_id, call.kind) == (make_group().group_id, "new_group")
    assert lane_of(make_request(kind=K.NEW_GROUP), None) == Lane.FIRST


def test_a_group_has_one_top_level_message_a_second_new_group_request_rewrites_it() -> None:
    assert lane_of(make_request(kind=K.NEW_GROUP), ORIGINAL) == Lane.REWRITE


def test_updates_state_changes_and_resolutions_rewrite_the_original_message() -> None:
    for kind in (K.UPDATED, K.STATE_CHANGED, K.RESOLVED):
        assert lane_of(make_request(kind=kind), ORIGINAL) == Lane.REWRITE
        call = plan_rewrite(make_request(kind=kind), "ws", ORIGINAL)
        assert (call.method, call.channel, call.ts) == ("chat.update", "#orig", ORIGINAL.ts)


def test_a_rewrite_without_an_original_is_never_posted_anew_not_even_a_resolution() -> None:
    for kind in (K.UPDATED, K.STATE_CHANGED, K.RESOLVED):
        assert lane_of(make_request(kind=kind), None) == Lane.REWRITE  # the rewrite lane looks it up


def test_an_escalation_replies_in_the_thread_of_the_original_message_or_posts_without_one() -> None:
    threaded = plan_post(make_request(kind=K.ESCALATION, escalation_level=1), "ws", ORIGINAL)
    alone = plan_post(make_request(kind=K.ESCALATION, escalation_level=1), "ws", None)
    assert (threaded.method, threaded.channel, threaded.thread_ts, threaded.broadcast) == (
        "chat.postMessage", "#orig", ORIGINAL.ts, True)
    assert alone.thread_ts is None and alone.channel == "#alerts"


def test_a_reopen_and_a_snooze_expiry_reply_in_the_thread_without_broadcast_and_rewrite_the_message() -> None:
    for kind in (K.REOPENED, K.SNOOZE_EXPIRED):
        request = make_request(kind=kind, flap_count=2, fired_during_snooze=3)
        call = plan_post(request, "ws", ORIGINAL)
        assert (call.channel, call.thread_ts, call.broadcast) == ("#orig", ORIGINAL.ts, False)
        assert lane_of(request, ORIGINAL) == Lane.REPLY and rewrites_message(request, Lane.REPLY)
        rewrite = plan_rewrite(request, "ws", ORIGINAL)  # the message shows the state, not the reply
        assert rewrite.method == "chat.update" and rewrite.blocks[-1]["type"] == "actions"
    assert not rewrites_message(make_request(kind=K.ESCALATION), Lane.REPLY)


def test_a_refused_click_is_answered_ephemerally_through_its_response_url() -> None:
    request = make_request(kind=K.COMMAND_REJECTED, reason="already_resolved",
                           reply_to=SlackReply(response_url="https://hooks.slack.com/actions/T/1/x", user="U1"))
    assert lane_of(request, ORIGINAL) == Lane.EPHEMERAL
    ephemeral = plan_ephemeral(request)
    assert ephemeral is not None and ephemeral.response_url == "https://hooks.slack.com/actions/T/1/x"
    assert "already resolved" in ephemeral.text
    assert plan_ephemeral(request.model_copy(update={"reply_to": None})) is None


def test_answers_go_only_to_slacks_hooks_or_the_configured_slack() -> None:
    assert response_url_allowed("https://hooks.slack.com/actions/T/1/x", "https://slack.com/api/")
    assert response_url_allowed("http://127.0.0.1:8006/actions/T/1/x", "http://127.0.0.1:8006/api/")
    for url in ("http://hooks.slack.com/actions/x", "https://hooks.slack.com.evil.example/x", "https://evil.example/x",
                "http://127.0.0.1:9999/actions/x", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd",
                "https://hooks.slack.com:8443/x", "not a url", "http://[::1"):
        assert not response_url_allowed(url, "http://127.0.0.1:8006/api/"), url


def test_first_notifications_come_first_criticals_before_the_rest() -> None:
    batch = [pending(K.ESCALATION, lane=Lane.REPLY), pending(K.REOPENED, lane=Lane.REPLY),
             pending(K.COMMAND_REJECTED, lane=Lane.EPHEMERAL), pending(K.NEW_GROUP),
             pending(K.NEW_GROUP, group=make_group(severity=Severity.CRITICAL))]
    ordered = sorted(batch, key=priority)
    assert [(p.request.kind, p.request.group.severity) for p in ordered] == [
        (K.NEW_GROUP, Severity.CRITICAL), (K.NEW_GROUP, Severity.HIGH), (K.COMMAND_REJECTED, Severity.HIGH),
        (K.ESCALATION, Severity.HIGH), (K.REOPENED, Severity.HIGH)]


def test_only_posts_left_sending_by_a_crash_are_looked_for_before_sending_again() -> None:
    assert may_have_posted_before(pending(K.NEW_GROUP, SENDING))
    assert may_have_posted_before(pending(K.ESCALATION, SENDING))
    assert may_have_posted_before(pending(K.REOPENED, SENDING))
    assert not may_have_posted_before(pending(K.NEW_GROUP, None))
    assert not may_have_posted_before(pending(K.UPDATED, SENDING))  # chat.update is safe to repeat


def test_several_rewrites_of_a_group_in_a_batch_become_one_with_the_latest_state() -> None:
    first, second = make_group(), make_group(group_id=uuid4(), group_key="other")
    batch = [pending(K.UPDATED, group=first.model_copy(update={"count": n})) for n in (2, 3, 4)]
    batch += [pending(K.STATE_CHANGED, group=first.model_copy(update={"count": 4, "status": GroupStatus.ACKNOWLEDGED}))]
    batch += [pending(K.NEW_GROUP, group=second), pending(K.REOPENED, lane=Lane.REPLY, group=second)]
    batch += [pending(K.ESCALATION, lane=Lane.REPLY, group=first)]
    rewrites = {r.group_id: r for r in coalesced_rewrites(batch)}
    assert set(rewrites) == {first.group_id, second.group_id}
    latest = rewrites[first.group_id]
    assert latest.env is batch[3].env and latest.env.data.group.status == GroupStatus.ACKNOWLEDGED
    assert latest.request_ids == [p.env.id for p in batch[:4]]  # every rewrite it answers
    assert latest.key == (first.group_id, "#alerts")
    assert rewrites[second.group_id].env is batch[5].env and rewrites[second.group_id].request_ids == []  # reply's own
    assert [handed_over(p) for p in batch] == [True] * 4 + [False, False, False]


def test_queued_deliveries_are_the_rewrite_lanes_not_the_consumers() -> None:
    assert [is_finished(s) for s in ("sent", "failed", "queued", "sending", None)] == [True, True, True, False, False]


def test_a_success_without_a_ts_of_its_own_is_about_the_original_message() -> None:
    assert settled(Outcome(ok=True), ORIGINAL).ts == ORIGINAL.ts
    assert settled(Outcome(ok=True, ts="2.0"), ORIGINAL).ts == "2.0"
    assert settled(Outcome(ok=False, error="invalid_auth"), ORIGINAL).ts is None


def test_a_posted_new_group_becomes_the_groups_original_message() -> None:
    assert posted_original(pending(K.NEW_GROUP, outcome=Outcome(ok=True, ts="3.0"))) == GroupMessage("#alerts", "3.0")
    assert posted_original(pending(K.UPDATED, outcome=Outcome(ok=True, ts="3.0"))) is None
    assert posted_original(pending(K.ESCALATION, outcome=Outcome(ok=True, ts="3.0"))) is None  # a reply
    assert posted_original(pending(K.NEW_GROUP, outcome=Outcome(ok=False, error="x"))) is None


def test_the_result_event_counts_attempts_and_latency_from_when_the_group_was_seen() -> None:
    attempt = Attempt(1, "chat.update", "ok", None, 200, 12.0, T0)
    now = T0 + timedelta(minutes=2)
    new = result_event(pending(K.NEW_GROUP, outcome=Outcome(ok=True, ts="1.0")), now)
    updated = result_event(pending(K.UPDATED, outcome=Outcome(ok=True, ts="1.0", attempts=[attempt])), now)
    failed = result_event(pending(K.NEW_GROUP, outcome=Outcome(ok=False, error="invalid_auth", attempts=[attempt])), now)
    assert isinstance(new.data, NotificationDelivered) and (new.data.attempts, new.data.latency_ms) == (1, 120_000.0)
    assert isinstance(updated.data, NotificationDelivered) and updated.data.latency_ms == 60_000.0
    assert isinstance(failed.data, NotificationFailed) and (failed.data.error, failed.data.attempts) == ("invalid_auth", 1)
    assert new.occurred_at == now and new.data.request_id == new.causation_id
