"""Commands on an alert group: `POST /api/alert-groups/{id}/ack|unack|snooze|unsnooze|resolve`.

202 with the command's id once it is on its way (through the outbox to `groups.commands`);
`?wait=true` waits (at most `timeout` seconds) until the read model shows grouping's answer: 200 with
the group as it now stands, or 409 with the rejection's reason (e.g. already_resolved).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from signalcraft_schemas.events import GroupAction

from .. import handlers
from ..domain.commands import CommandRequest, InvalidCommand, UnknownGroup, accepted, outcome_answer
from ..domain.identity import Caller
from ..domain.read_views import Group
from .auth import current_caller, require_token
from .request_bodies import RequestBody, StorableTime

router = APIRouter(prefix="/api", tags=["commands"], dependencies=[Depends(require_token)])


class CommandIn(RequestBody):
    by: str | None = Field(default=None, max_length=100, description="Who acts (the actor is api:<by>)")
    duration: str | int | None = Field(default=None, description='snooze: "90s", "15m", "4h", ISO 8601; a number is minutes')
    until: StorableTime | None = Field(default=None, description="snooze: until this time instead")
    reason: str | None = Field(default=None, max_length=500)
    assignee: str | None = Field(default=None, max_length=200, description="assign: who (None unassigns)")
    text: str | None = Field(default=None, max_length=4000, description="notes: the note")


class CommandAccepted(BaseModel):
    command_id: UUID = Field(description="Finds the command's outcome")
    group_id: UUID
    action: GroupAction
    actor: str
    snooze_until: datetime | None
    status: Literal["accepted", "pending"] = Field(description="pending: `?wait=true` timed out before grouping "
                                                               "answered (the command may still apply)")


class CommandOutcome(BaseModel):
    command_id: UUID
    group_id: UUID
    action: GroupAction
    actor: str
    status: str = Field(description="applied (200) or rejected (409)")
    event: str = Field(description="The event type that answered")
    reason: str | None = Field(description="A rejection's reason, e.g. already_resolved")
    group: Group | None = Field(description="The group as it now stands")


@router.post("/alert-groups/{group_id}/{action}", status_code=202, response_model=CommandAccepted, responses={
    200: {"model": CommandOutcome, "description": "`?wait=true`: applied"},
    409: {"model": CommandOutcome, "description": "`?wait=true`: rejected"},
})
async def command_group(group_id: UUID, action: str, request: Request, body: CommandIn | None = None,
                        wait: bool = False, timeout: float = Query(10.0, gt=0, le=30),
                        caller: Caller = Depends(current_caller)) -> JSONResponse:
    # A user or token acts as itself; only the admin token names who acts with `by`.
    ask = CommandRequest(action=action, actor=caller.principal, **(body or CommandIn()).model_dump())
    try:
        command = await handlers.send_group_command(request.app.state.service, group_id, ask)
    except InvalidCommand as exc:
        raise HTTPException(422, str(exc)) from exc
    except UnknownGroup as exc:
        raise HTTPException(404, str(exc)) from exc
    if not wait:
        return JSONResponse(jsonable_encoder(accepted(command)), status_code=202)
    outcome = await handlers.command_outcome(request.app.state.service, command.command_id, timeout)
    status, answer = outcome_answer(outcome, command)
    return JSONResponse(jsonable_encoder(answer), status_code=status)
