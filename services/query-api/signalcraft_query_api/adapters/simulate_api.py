"""What-if: `POST /api/routing-rules/simulate` replays the stored alerts of a range through a proposed
rule set and answers, per channel, the groups and notifications it would have produced next to what
was actually sent (issue 10.6). It reads only: no row, no config event, nothing published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, model_validator

from signalcraft_policies.routing import InvalidRule

from .. import handlers
from ..domain.config import RuleDefinition, UnknownWorkspace
from ..repository.simulate import SimulationRows
from .auth import require_token
from .config_api import RuleIn
from .request_bodies import RequestBody, StorableTime

router = APIRouter(prefix="/api", tags=["config"], dependencies=[Depends(require_token)])
MAX_PROPOSED_RULES = 500


class ProposedRuleIn(RuleIn):
    """A rule as the rules API takes it; its workspace is the simulation's."""

    workspace_id: str = ""


class SimulateIn(RequestBody):
    workspace_id: str = Field(min_length=1)
    rules: list[ProposedRuleIn] = Field(max_length=MAX_PROPOSED_RULES, description="The proposed rule set, complete")
    since: StorableTime
    until: StorableTime

    @model_validator(mode="after")
    def _a_range(self) -> "SimulateIn":
        if self.until <= self.since:
            raise ValueError("until must be after since")
        return self

    def definitions(self) -> list[RuleDefinition]:
        return [rule.model_copy(update={"workspace_id": self.workspace_id}).definition() for rule in self.rules]


async def simulation_rows(request: Request) -> AsyncIterator[SimulationRows]:
    """A read-only connection: it is closed without a commit."""
    async with request.app.state.service.engine.connect() as conn:
        yield SimulationRows(conn)


class ChannelCounts(BaseModel):
    groups: int = Field(description="Distinct groups that reach the channel")
    notifications: int = Field(description="Top-level messages posted there (one per group and channel)")


class ChannelComparison(BaseModel):
    channel: str
    simulated: ChannelCounts = Field(description="With the proposed rules")
    actual: ChannelCounts = Field(description="What was actually sent")


class Simulation(BaseModel):
    since: datetime
    until: datetime
    alerts_replayed: int
    groups: int
    unrouted_groups: int = Field(description="No rule and no default channel: the router's no_route failure")
    rerouted_groups: int = Field(description="Routed again after a severity rise, reaching a new channel")
    default_channel: str | None
    changed_nothing: bool = Field(description="Always true: a simulation stores and publishes nothing")
    how_groups_are_formed: str
    channels: list[ChannelComparison] = Field(description="Per channel, in name order")


@router.post("/routing-rules/simulate", response_model=Simulation)
async def simulate(body: SimulateIn, rows: SimulationRows = Depends(simulation_rows)) -> dict[str, Any]:
    try:
        return await handlers.simulate_routing(rows, body.workspace_id, body.definitions(), body.since, body.until)
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc
    except InvalidRule as exc:  # a matcher, mention policy or URL the rules API would refuse too
        raise HTTPException(422, str(exc)) from exc
