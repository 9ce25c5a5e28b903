"""The notifier's delivery decisions: which Slack call a request becomes, when to look for a message
posted before a crash, and which event records the outcome."""

from __future__ import annotations

from datetime import timedelta

from signalcraft_notifier.domain.delivery import (
    SENDING, Attempt, GroupMessage, Outcome, Pending, may_have_posted_before, plan_call, posted_original, result_event,
    settled,
)
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationDelivered, NotificationFailed, NotificationKind

from ..builders import T0, make_group, make_request

ORIGINAL = GroupMessage("#orig", "1700000000.000100")


def pending(kind: NotificationKind, prior: str | None = None, outcome: Outcome | None = None) -> Pending:
    request = make_request(kind=kind, group=make_group(last_seen_at=T0 + timedelta(minutes=1)))
    env = Envelope.wrap(request, workspace_id="ws", key="k", correlation_id="c", occurred_at=T0)
    return Pending(env, request, prior, T0, outcome)


def test_a_new_group_is_posted_to_the_rule_channel() -> None:
    call = plan_call(make_request(kind=NotificationKind.NEW_GROUP), None)
    assert call is not None and (call.method, call.channel, call.ts, call.thread_ts) == ("chat.postMessage", "#alerts",
                                                                                        None, None)


def test_updates_and_resolutions_rewrite_the_original_message() -> None:
    for kind in (NotificationKind.UPDATED, NotificationKind.RESOLVED):
        call = plan_call(make_request(kind=kind), ORIGINAL)
        assert call is not None and (call.method, call.channel, call.ts) == ("chat.update", "#orig", ORIGINAL.ts)


def test_an_update_without_an_original_is_never_posted_anew_but_a_resolution_is() -> None:
    assert plan_call(make_request(kind=NotificationKind.UPDATED), None) is None
    call = plan_call(make_request(kind=NotificationKind.RESOLVED), None)
    assert call is not None and call.method == "chat.postMessage"


def test_an_escalation_replies_in_the_thread_of_the_original_message_or_posts_without_one() -> None:
    threaded = plan_call(make_request(kind=NotificationKind.ESCALATION, escalation_level=1), ORIGINAL)
    alone = plan_call(make_request(kind=NotificationKind.ESCALATION, escalation_level=1), None)
    assert threaded is not None and (threaded.method, threaded.channel, threaded.thread_ts) == (
        "chat.postMessage", "#alerts", ORIGINAL.ts)
    assert alone is not None and alone.thread_ts is None


def test_only_posts_left_sending_by_a_crash_are_looked_for_before_sending_again() -> None:
    assert may_have_posted_before(pending(NotificationKind.NEW_GROUP, SENDING))
    assert may_have_posted_before(pending(NotificationKind.ESCALATION, SENDING))
    assert not may_have_posted_before(pending(NotificationKind.NEW_GROUP, None))
    assert not may_have_posted_before(pending(NotificationKind.UPDATED, SENDING))  # chat.update is safe to repeat


def test_a_success_without_a_ts_of_its_own_is_about_the_original_message() -> None:
    assert settled(Outcome(ok=True), ORIGINAL).ts == ORIGINAL.ts
    assert settled(Outcome(ok=True, ts="2.0"), ORIGINAL).ts == "2.0"
    assert settled(Outcome(ok=False, error="invalid_auth"), ORIGINAL).ts is None


def test_a_posted_new_group_becomes_the_groups_original_message() -> None:
    assert posted_original(pending(NotificationKind.NEW_GROUP, outcome=Outcome(ok=True, ts="3.0"))) == GroupMessage(
        "#alerts", "3.0")
    assert posted_original(pending(NotificationKind.UPDATED, outcome=Outcome(ok=True, ts="3.0"))) is None
    assert posted_original(pending(NotificationKind.NEW_GROUP, outcome=Outcome(ok=False, error="x"))) is None


def test_the_result_event_counts_attempts_and_latency_from_when_the_group_was_seen() -> None:
    attempt = Attempt(1, "chat.update", "ok", None, 200, 12.0, T0)
    now = T0 + timedelta(minutes=2)
    new = result_event(pending(NotificationKind.NEW_GROUP, outcome=Outcome(ok=True, ts="1.0")), now)
    updated = result_event(pending(NotificationKind.UPDATED, outcome=Outcome(ok=True, ts="1.0", attempts=[attempt])),
                           now)
    failed = result_event(pending(NotificationKind.NEW_GROUP, outcome=Outcome(ok=False, error="invalid_auth",
                                                                              attempts=[attempt])), now)
    assert isinstance(new.data, NotificationDelivered) and (new.data.attempts, new.data.latency_ms) == (1, 120_000.0)
    assert isinstance(updated.data, NotificationDelivered) and updated.data.latency_ms == 60_000.0
    assert isinstance(failed.data, NotificationFailed) and (failed.data.error, failed.data.attempts) == ("invalid_auth", 1)
    assert new.occurred_at == now and new.data.request_id == new.causation_id
