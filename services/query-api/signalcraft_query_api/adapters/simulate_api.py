"""What-if: `POST /api/routing-rules/simulate` replays the stored alerts of a range through a proposed
rule set and answers, per channel, the groups and notifications it would have produced next to what
was actually sent (issue 10.6). It reads only: no row, no config event, nothing published."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, model_validator

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


@router.post("/routing-rules/simulate")
async def simulate(body: SimulateIn, rows: SimulationRows = Depends(simulation_rows)) -> dict[str, Any]:
    try:
        return await handlers.simulate_routing(rows, body.workspace_id, body.definitions(), body.since, body.until)
    except UnknownWorkspace as exc:
        raise HTTPException(404, str(exc)) from exc
    except InvalidRule as exc:  # a matcher, mention policy or URL the rules API would refuse too
        raise HTTPException(422, str(exc)) from exc
