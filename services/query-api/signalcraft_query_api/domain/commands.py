"""Commands on an alert group from the API: what a request becomes as a GroupCommand, and what the
API answers once the read model shows the command's outcome.

The API only asks: grouping decides (it owns the group's state), and its answer (the group event that
carries the command's id, or GroupCommandRejected with a reason) is projected into
`query.command_outcomes`, which `?wait=true` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from signalcraft_schemas.durations import InvalidDuration, parse_duration
from signalcraft_schemas.events import GroupAction, GroupCommand

MAX_ACTOR_NAME = 100


class InvalidCommand(ValueError):
    """The request cannot become a command (422): an unknown action, a snooze without a sensible end."""


class UnknownGroup(LookupError):
    """No such alert group in the read model (404)."""


@dataclass(frozen=True)
class GroupRef:
    """Where a group's commands go: its workspace, and its key (the partition of everything about it)."""

    group_id: UUID
    workspace_id: str
    group_key: str


@dataclass(frozen=True)
class CommandRequest:
    action: str
    by: str | None = None  # who, as the caller names them; "admin" when not said
    duration: str | int | None = None  # snooze: "90s", "15m", "4h", ISO 8601 "PT4H"; a plain number is minutes
    until: datetime | None = None  # snooze: an absolute end instead
    reason: str | None = None
    actor: str | None = None  # the authenticated caller ("user:<id>", "token:<id>"); wins over `by`
    assignee: str | None = None  # assign: who; None unassigns
    text: str | None = None  # notes: the note


def api_actor(by: str | None) -> str:
    name = (by or "admin").strip()[:MAX_ACTOR_NAME] or "admin"
    return f"api:{name}"


# The API's paths of actions whose name reads better as a collection: POST .../notes adds a note.
ACTION_PATHS = {"notes": GroupAction.NOTE}


def action_of(name: str) -> GroupAction:
    if name in ACTION_PATHS:
        return ACTION_PATHS[name]
    try:
        return GroupAction(name)
    except ValueError:
        raise InvalidCommand(f"unknown action {name!r}; one of {', '.join(a.value for a in GroupAction)}") from None


def snooze_end(request: CommandRequest, now: datetime) -> datetime:
    """When a snooze asked for by duration or by time ends; refused when it is not in the future."""
    if request.until is not None:
        if request.until.tzinfo is None:
            raise InvalidCommand("until needs a time zone (e.g. 2024-05-01T14:00:00Z)")
        end = request.until
    elif request.duration is not None:
        try:
            end = now + parse_duration(request.duration)
        except InvalidDuration as exc:
            raise InvalidCommand(str(exc)) from None
    else:
        raise InvalidCommand("snooze needs a duration (e.g. 90s, 15m, 4h, PT4H) or until")
    if end <= now:
        raise InvalidCommand("a snooze must end in the future")
    return end


def group_command(group: GroupRef, request: CommandRequest, *, now: datetime, command_id: UUID) -> GroupCommand:
    action = action_of(request.action)
    return GroupCommand(
        command_id=command_id, group_id=group.group_id, group_key=group.group_key, action=action,
        actor=request.actor or api_actor(request.by), snooze_until=snooze_end(request, now) if action == GroupAction.SNOOZE else None,
        reason=request.reason, assignee=request.assignee if action == GroupAction.ASSIGN else None,
        note=note_text(request) if action == GroupAction.NOTE else None)


def note_text(request: CommandRequest) -> str:
    text = (request.text or "").strip()
    if not text:
        raise InvalidCommand("a note needs its text")
    return text


def accepted(command: GroupCommand) -> dict[str, Any]:
    """The 202 answer: the command is on its way; its id finds its outcome."""
    return {"command_id": str(command.command_id), "group_id": str(command.group_id), "action": command.action.value,
            "actor": command.actor, "snooze_until": command.snooze_until, "status": "accepted"}


def outcome_answer(outcome: dict[str, Any] | None, command: GroupCommand) -> tuple[int, dict[str, Any]]:
    """`?wait=true`: 200 with the applied outcome and the group as it now stands, 409 with a rejection's
    reason, or 202 when the outcome did not show in time (the command may still apply)."""
    if outcome is None:
        return 202, accepted(command) | {"status": "pending"}
    answer = {"command_id": str(command.command_id), "group_id": str(command.group_id),
              "action": command.action.value, "actor": command.actor, "status": outcome["outcome"],
              "event": outcome["event"], "reason": outcome.get("reason"), "group": outcome.get("group")}
    return (200 if outcome["outcome"] == "applied" else 409), answer
