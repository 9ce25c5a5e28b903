"""Escalation policies and on-call schedules (issue 10.1, 10.2): CRUD under /api/escalation-policies
and /api/schedules, who is on call (`/api/schedules/{id}/oncall?at=`) and the next handoffs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from signalcraft_runtime.clock import utcnow
from signalcraft_schemas.durations import DurationSeconds, InvalidDuration, duration_seconds
from signalcraft_schemas.events import (
    EscalationLevel, EscalationPolicySaved, EscalationRepeat, ScheduleOverride, ScheduleSaved,
)

from .. import handlers
from ..domain.escalation_config import (
    InAnotherWorkspace, InvalidPolicy, InvalidSchedule, PolicyDefinition, ScheduleDefinition, StillNamed,
    UnknownPolicy, UnknownSchedule,
)
from ..repository.escalation import EscalationConfigRows
from .auth import require_token
from .config_api import _http_errors, _service
from .request_bodies import RequestBody

router = APIRouter(prefix="/api", tags=["escalation"], dependencies=[Depends(require_token)])

STATUS_OF_ERROR: dict[type[Exception], int] = {
    InvalidPolicy: 422, InvalidSchedule: 422, UnknownPolicy: 404, UnknownSchedule: 404, StillNamed: 409,
    InAnotherWorkspace: 409,
}
SHIFTS = {"daily": 86400, "weekly": 7 * 86400}


@contextmanager
def _errors() -> Iterator[None]:
    try:
        with _http_errors():
            yield
    except tuple(STATUS_OF_ERROR) as exc:
        raise HTTPException(STATUS_OF_ERROR[type(exc)], str(exc)) from exc


async def escalation_rows(request: Request) -> AsyncIterator[EscalationConfigRows]:
    async with _service(request).engine.connect() as conn:
        yield EscalationConfigRows(conn)


class LevelIn(RequestBody):
    after: DurationSeconds = Field(ge=1, le=7 * 24 * 3600, description="90s, 5m, ISO 8601 or seconds: from the "
                                   "first notification (level 1) or from the previous level")
    targets: list[str] = Field(min_length=1, max_length=50)


class RepeatIn(RequestBody):
    every: DurationSeconds = Field(ge=1, le=7 * 24 * 3600)
    times: int = Field(ge=1, le=100)


class PolicyIn(RequestBody):
    workspace_id: str
    name: str = Field(min_length=1, max_length=200)
    levels: list[LevelIn] = Field(min_length=1, max_length=20)
    repeat: RepeatIn | None = None

    def definition(self) -> PolicyDefinition:
        return PolicyDefinition(
            workspace_id=self.workspace_id, name=self.name,
            levels=[EscalationLevel(after_seconds=level.after, targets=level.targets) for level in self.levels],
            repeat=EscalationRepeat(every_seconds=self.repeat.every, times=self.repeat.times) if self.repeat else None)


# A policy or schedule is answered as stored: its config event, as the router and escalator receive it.
@router.get("/escalation-policies", response_model=list[EscalationPolicySaved])
async def list_policies(workspace_id: str, rows: EscalationConfigRows = Depends(escalation_rows)) -> list[dict[str, Any]]:
    return await rows.policies(workspace_id)


@router.get("/escalation-policies/{policy_id}", response_model=EscalationPolicySaved)
async def get_policy(policy_id: str, rows: EscalationConfigRows = Depends(escalation_rows)) -> dict[str, Any]:
    if (found := await rows.policy(policy_id)) is None:
        raise HTTPException(404, "no such escalation policy")
    return found


@router.post("/escalation-policies", status_code=201, response_model=EscalationPolicySaved)
async def create_policy(body: PolicyIn, request: Request) -> dict[str, Any]:
    with _errors():
        return await handlers.create_policy(_service(request), body.definition())


@router.put("/escalation-policies/{policy_id}", response_model=EscalationPolicySaved)
async def update_policy(policy_id: str, body: PolicyIn, request: Request) -> dict[str, Any]:
    with _errors():
        return await handlers.save_policy(_service(request), policy_id, body.definition())


@router.delete("/escalation-policies/{policy_id}", status_code=204)
async def delete_policy(policy_id: str, request: Request) -> Response:
    with _errors():
        await handlers.delete_policy(_service(request), policy_id)
    return Response(status_code=204)


class OverrideIn(RequestBody):
    user: str
    start: AwareDatetime
    end: AwareDatetime


class ScheduleIn(RequestBody):
    workspace_id: str
    name: str = Field(min_length=1, max_length=200)
    users: list[str] = Field(min_length=1, max_length=100, description="Slack users <@U…>, in rotation order")
    time_zone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Berlin")
    start_date: date
    handoff_time: time = Field(description="Local wall-clock time, HH:MM")
    shift: str | int = Field(default="weekly", description="daily, weekly or a duration (12h, 3d, PT36H, seconds)")
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=500)

    def definition(self) -> ScheduleDefinition:
        try:
            shift = SHIFTS.get(str(self.shift)) or duration_seconds(self.shift, bare_unit="seconds")
        except InvalidDuration as exc:
            raise InvalidSchedule(f"shift {self.shift!r} is none of daily, weekly or a duration") from exc
        return ScheduleDefinition(
            workspace_id=self.workspace_id, name=self.name, users=self.users, time_zone=self.time_zone,
            start_date=self.start_date, handoff_time=self.handoff_time, shift_seconds=shift,
            overrides=[ScheduleOverride(user=o.user, start=o.start, end=o.end) for o in self.overrides])


@router.get("/schedules", response_model=list[ScheduleSaved])
async def list_schedules(workspace_id: str, rows: EscalationConfigRows = Depends(escalation_rows)) -> list[dict[str, Any]]:
    return await rows.schedules(workspace_id)


@router.get("/schedules/{schedule_id}", response_model=ScheduleSaved)
async def get_schedule(schedule_id: str, rows: EscalationConfigRows = Depends(escalation_rows)) -> dict[str, Any]:
    if (found := await rows.schedule(schedule_id)) is None:
        raise HTTPException(404, "no such schedule")
    return found


@router.post("/schedules", status_code=201, response_model=ScheduleSaved)
async def create_schedule(body: ScheduleIn, request: Request) -> dict[str, Any]:
    with _errors():
        return await handlers.create_schedule(_service(request), body.definition())


@router.put("/schedules/{schedule_id}", response_model=ScheduleSaved)
async def update_schedule(schedule_id: str, body: ScheduleIn, request: Request) -> dict[str, Any]:
    with _errors():
        return await handlers.save_schedule(_service(request), schedule_id, body.definition())


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, request: Request) -> Response:
    with _errors():
        await handlers.delete_schedule(_service(request), schedule_id)
    return Response(status_code=204)


class OnCallNow(BaseModel):
    schedule_id: str
    at: datetime
    user: str | None = Field(description="Who is on call; None: nobody")
    since: datetime | None = Field(description="None: unbounded")
    until: datetime | None = Field(description="None: unbounded")
    override: bool = Field(description="An override, not the rotation")


class HandoffOut(BaseModel):
    at: datetime
    local: str = Field(description="`at` in the schedule's time zone, ISO 8601")
    user: str | None = Field(description="Who takes over; None: nobody")
    override: bool


class Handoffs(BaseModel):
    schedule_id: str
    time_zone: str
    after: datetime
    on_call: str | None = Field(description="Who is on call at `after`")
    handoffs: list[HandoffOut] = Field(description="The next handoffs after `after`, soonest first")


@router.get("/schedules/{schedule_id}/oncall", response_model=OnCallNow)
async def who_is_on_call(schedule_id: str, at: AwareDatetime | None = None,
                         rows: EscalationConfigRows = Depends(escalation_rows)) -> dict[str, Any]:
    """Who is on call at `at` (default: now), since and until when."""
    with _errors():
        return await handlers.who_is_on_call(rows, schedule_id, at or utcnow())


@router.get("/schedules/{schedule_id}/handoffs", response_model=Handoffs)
async def upcoming_handoffs(schedule_id: str, after: AwareDatetime | None = None, count: int = Query(5, ge=1, le=100),
                           rows: EscalationConfigRows = Depends(escalation_rows)) -> dict[str, Any]:
    with _errors():
        return await handlers.upcoming_handoffs(rows, schedule_id, after or utcnow(), count)
