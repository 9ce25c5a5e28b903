"""The rewrite lane's decisions (rewrite, wait for the first post, look the message up; the
results it owes) and the pacing under Slack's rate limits (posts per channel, chat.update per
workspace), with first notifications never held back."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from signalcraft_notifier.domain.delivery import FAILED, ORIGINAL_MISSING, SENDING, SENT, GroupMessage, Outcome
from signalcraft_notifier.domain.pacing import Pacer
from signalcraft_notifier.domain.rewrites import (
    Answered, QueuedRewrite, Step, first_due, next_due, next_step, not_found, results, schedule, search_from,
)
from signalcraft_schemas import Envelope
from signalcraft_schemas.events import NotificationDelivered, NotificationFailed, NotificationKind

from ..builders import T0, make_group, make_request

ORIGINAL = GroupMessage("#alerts", "1700000000.000100")


def queued(original: GroupMessage | None = ORIGINAL, first_post: str | None = SENT, answers: int = 2,
           workspace: str = "ws") -> QueuedRewrite:
    request = make_request(kind=NotificationKind.UPDATED, group=make_group(count=7, last_seen_at=T0))
    env = Envelope.wrap(request, workspace_id="ws", key="k", correlation_id="delivery-1", occurred_at=T0)
    answered = [Answered(uuid4(), NotificationKind.UPDATED, "#alerts") for _ in range(answers)]
    return QueuedRewrite(request.group.group_id, workspace, env, 3, answered, original, first_post)


def test_a_known_message_is_rewritten_one_being_posted_is_waited_for_a_missing_one_looked_up() -> None:
    assert next_step(queued()) == Step.REWRITE
    assert next_step(queued(original=None, first_post=SENDING)) == Step.WAIT
    for first_post in (None, SENT, FAILED):  # never recorded (a crash, older records), or its post failed
        assert next_step(queued(original=None, first_post=first_post)) == Step.LOOK_UP
    assert search_from(queued()) == T0 - timedelta(seconds=5)
    assert not_found() == Outcome(ok=False, error=ORIGINAL_MISSING)


def test_a_message_rewritten_a_moment_ago_waits_out_its_interval() -> None:
    interval = timedelta(seconds=1)
    assert first_due(T0, None, interval) == T0
    assert first_due(T0, T0 - timedelta(seconds=5), interval) == T0
    assert first_due(T0, T0 - timedelta(milliseconds=400), interval) == T0 + timedelta(milliseconds=600)
    assert next_due(T0, interval) == T0 + interval


def test_every_answered_request_gets_its_result_from_the_one_rewrite() -> None:
    now = T0 + timedelta(seconds=3)
    rewrite = queued()
    delivered = results(rewrite, Outcome(ok=True, ts=ORIGINAL.ts), now)
    assert [e.data.request_id for e in delivered] == [a.request_id for a in rewrite.answers]
    assert all(isinstance(e.data, NotificationDelivered) and e.data.message_ts == ORIGINAL.ts
               and e.data.latency_ms == 3000.0 and e.causation_id == e.data.request_id and e.key == "k"
               and e.correlation_id == "delivery-1" for e in delivered)
    failed = results(rewrite, Outcome(ok=False, error="message_not_found"), now)
    assert all(isinstance(e.data, NotificationFailed) and e.data.error == "message_not_found" for e in failed)
    assert results(queued(answers=0), Outcome(ok=True, ts="1"), now) == []  # a reply's state: its result is the reply's


def test_a_pacer_lets_a_burst_through_then_spaces_calls_at_its_rate() -> None:
    posts = Pacer(rate_per_s=1.0, burst=3)
    assert [posts.wait_and_take("#c", 0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert posts.delay("#c", 0.0) == 3.0 and posts.delay("#other", 0.0) == 0.0  # per channel
    assert posts.delay("#c", 10.0) == 0.0  # refilled


def test_first_notifications_never_wait_but_slow_the_replies_that_can_within_a_bound() -> None:
    posts = Pacer(rate_per_s=1.0, burst=2)
    for _ in range(50):  # a storm of new groups in one channel: none waits
        posts.take("#c", 0.0)
    assert posts.delay("#c", 0.0) == 3.0  # a reply waits, at most 2 bursts' worth, not 50 s
    assert posts.wait_and_take("#c", 0.0) == 3.0


def test_rewrites_are_paced_per_workspace_at_tier_3() -> None:
    rewrites = Pacer(rate_per_s=50 / 60, burst=20)
    waits = [rewrites.wait_and_take("ws", 0.0) for _ in range(70)]
    assert waits[:20] == [0.0] * 20 and waits[20] == pytest.approx(1.2)
    assert waits[-1] == pytest.approx(50 * 1.2)  # 70 calls: the burst, then 50 a minute
    assert rewrites.delay("other-ws", 0.0) == 0.0


def test_a_pacer_needs_a_rate_and_a_burst() -> None:
    for rate, burst in ((0, 1), (-1, 1), (1, 0.5)):
        with pytest.raises(ValueError):
            Pacer(rate, burst)


def test_a_claim_goes_as_far_as_each_workspaces_pace_allows_the_rest_waits_its_turn_in_order() -> None:
    pacer = Pacer(rate_per_s=1.0, burst=2)
    claimed = [queued() for _ in range(5)] + [queued(workspace="other")]
    claimed.insert(1, queued(original=None, first_post=SENDING))  # its message is being posted right now
    claimed.append(queued(workspace="gone"))
    ready, later = schedule(claimed, pacer, 0.0, connected=lambda workspace: workspace != "gone")
    assert [q.workspace_id for q in ready] == ["ws", "ws", "other", "gone"]  # the burst; another workspace; no Slack
    assert [(q.workspace_id, wait) for q, wait in later] == [("ws", 1.0), ("ws", 1.0), ("ws", 2.0), ("ws", 3.0)]
    assert later[0][0] is claimed[1]  # waiting for its first post, a second
    ready, later = schedule([queued()], pacer, 1.0, connected=lambda _: True)  # a token has come back
    assert len(ready) == 1 and later == []


def test_turns_given_out_by_one_claim_are_not_given_out_again_by_the_next() -> None:
    pacer, turns = Pacer(rate_per_s=1.0, burst=1), {}
    ready, later = schedule([queued() for _ in range(3)], pacer, 0.0, lambda _: True, turns)
    assert len(ready) == 1 and [wait for _, wait in later] == [1.0, 2.0]
    _, later = schedule([queued() for _ in range(2)], pacer, 0.0, lambda _: True, turns)  # the next claim, at once
    assert [wait for _, wait in later] == [3.0, 4.0]
    _, later = schedule([queued(workspace="other"), queued(workspace="other")], pacer, 0.0, lambda _: True, turns)
    assert [wait for _, wait in later] == [1.0]  # another workspace has its own line


def simulate_rewrite_lane(queue_depth: int, pacer: Pacer, turns: dict[str, float] | None,
                          batch: int = 50) -> tuple[int, float]:
    """The rewrite lane's loop over a queue of `queue_depth` rewrites of one workspace, all due at 0:
    claim up to `batch` due rows (earliest due first), send the ready ones, give the others back due at
    their wait; claim again at once after a full claim, else at the next due time; a step itself takes
    10 ms. Returns the rows claimed in all and the time the last rewrite went."""
    due = [0.0] * queue_depth
    now, claimed_total, last_sent = 0.0, 0, 0.0
    while due:
        due.sort()
        claim = [d for d in due if d <= now][:batch]
        due = due[len(claim):]
        claimed_total += len(claim)
        ready, later = schedule([queued() for _ in claim], pacer, now, lambda _: True, turns)
        if ready:
            last_sent = now
        due += [now + wait for _, wait in later]
        now += 0.01
        if len(claim) < batch and due:
            now = max(now, min(due))
    return claimed_total, last_sent


def test_a_deep_queue_is_claimed_about_once_per_rewrite_not_over_and_over() -> None:
    # 2,000 groups of one workspace updated in a burst, Slack's Tier 3 pace (50 a minute after a burst of 20).
    claimed, finished = simulate_rewrite_lane(2000, Pacer(rate_per_s=50 / 60, burst=20), turns={})
    assert claimed <= 2 * 2000, f"{claimed} rows claimed for 2,000 rewrites"  # once for a turn, once at it
    assert finished == pytest.approx((2000 - 20) * 60 / 50, rel=0.02)  # still at the workspace's pace
    # Without the turns carried over, every claim hands out the same first turns: the queue comes due
    # within one claim's spread and is claimed and given back again and again.
    churned, _ = simulate_rewrite_lane(500, Pacer(rate_per_s=50 / 60, burst=20), turns=None)
    assert churned > 10 * 500
