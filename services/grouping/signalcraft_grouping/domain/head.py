"""What grouping keeps per group_key between batches: the key's current group and its lifecycle
history, what downstream last heard about it, and the cause of a count update held back by the debounce.

Opens, acknowledgements and resolutions go downstream at once. Count updates are debounced per group
(`publish_update_now`); a held-back update leaves its cause on the head, and goes out when the
debounce interval has passed (`flush_held_back`) or when a new group replaces the key's group
(`evolve_head`), so downstream never sees a count older than that interval. Such a catch-up counts
every alert since downstream last heard, so it supersedes the batch's earlier updates of that group
(`superseded`), which would otherwise count those alerts twice. Pure functions over
plain data: the caller passes `now`, loads and stores heads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

from signalcraft_schemas import Severity
from signalcraft_schemas.events import GroupNoteAdded, GroupOpened, GroupResolved, GroupSnapshot, GroupUpdated

from .bump import NO_BUMPS, BumpState
from .group import NO_HISTORY, GroupEvent, Lifecycle, evolve, evolve_lifecycle


@dataclass(frozen=True)
class Published:
    """What downstream consumers last heard about a group."""

    count: int
    severity: Severity
    at: datetime


@dataclass(frozen=True)
class Cause:
    """The incoming event behind the newest unpublished change: the held-back update is caused by it."""

    id: UUID
    correlation_id: str


@dataclass(frozen=True)
class GroupHead:
    snapshot: GroupSnapshot
    published: Published | None = None  # about `snapshot`'s group
    pending_cause: Cause | None = None  # set while a count update of `snapshot`'s group is held back
    lifecycle: Lifecycle = NO_HISTORY  # of `snapshot`'s group
    bump: BumpState = NO_BUMPS  # the severity bump's count (domain/bump.py)


def publish_update_now(update: GroupUpdated, published: Published | None, now: datetime, debounce: timedelta) -> bool:
    """Count/last_seen updates are debounced: at most one per `debounce` per group, except that a
    higher severity is published at once (it can change routing and who gets paged)."""
    if published is None:
        return True
    if Severity(update.group.severity).rank > Severity(published.severity).rank:
        return True
    return now - published.at >= debounce


def catch_up(head: GroupHead) -> GroupUpdated:
    """The update that catches downstream up on the head's group: every alert since it last heard of it."""
    published = head.published.count if head.published else 0
    return GroupUpdated(group=head.snapshot, alerts_added=max(1, head.snapshot.count - published))


def leaves_the_key(head: GroupHead, event: GroupEvent) -> bool:
    """The key's group is replaced: closed because its window passed, or succeeded by a new group."""
    if isinstance(event, GroupResolved) and event.reason == "replaced":
        return event.group.group_id == head.snapshot.group_id
    return isinstance(event, GroupOpened) and event.group.group_id != head.snapshot.group_id


def evolve_head(head: GroupHead | None, event: GroupEvent) -> tuple[GroupHead, list[GroupUpdated]]:
    """The head after a decided event, and the updates to publish before that event: when a new
    group replaces one whose count update is held back, that update goes first (the replaced group's
    last count must not be lost with its head)."""
    replaced: list[GroupUpdated] = []
    if head is not None and head.pending_cause is not None and leaves_the_key(head, event):
        replaced.append(catch_up(head))
        head = replace(head, pending_cause=None)
    before = head.snapshot if head else None
    state = evolve(before, event)
    assert state is not None  # every group event carries the group
    lifecycle = evolve_lifecycle(head.lifecycle if head else NO_HISTORY, before, event)
    if head is None:
        return GroupHead(state, lifecycle=lifecycle), replaced
    return replace(head, snapshot=state, lifecycle=lifecycle), replaced


C = TypeVar("C")


def superseded(decided: list[tuple[GroupEvent, C]], catch_ups: list[GroupUpdated]) -> list[tuple[GroupEvent, C]]:
    """`decided` without the updates of the groups these catch-ups cover: a catch-up already counts them."""
    covered = {update.group.group_id for update in catch_ups}
    return [(event, cause) for event, cause in decided
            if not (isinstance(event, GroupUpdated) and event.group.group_id in covered)]


def publish_or_hold(head: GroupHead, event: GroupEvent, cause: Cause, now: datetime,
                    debounce: timedelta) -> tuple[GroupHead, bool]:
    """Whether `event` goes downstream now, and the head after. A held-back update of the key's
    group leaves its cause for the flush; a published event about that group is what downstream
    last heard. Events about a group the key no longer holds (replaced) are published as they are."""
    if event.group.group_id != head.snapshot.group_id or isinstance(event, GroupNoteAdded):
        return head, True  # a note changes nothing downstream acts on: a held-back update stays held
    if isinstance(event, GroupUpdated) and not publish_update_now(event, head.published, now, debounce):
        return replace(head, pending_cause=cause), False
    published = Published(event.group.count, Severity(event.group.severity), now)
    return replace(head, published=published, pending_cause=None), True


def flush_held_back(head: GroupHead, now: datetime) -> tuple[GroupHead, GroupUpdated]:
    """Publish the held-back update (its debounce interval has passed): the head after, and the update."""
    snapshot = head.snapshot
    published = Published(snapshot.count, Severity(snapshot.severity), now)
    return replace(head, published=published, pending_cause=None), catch_up(head)
