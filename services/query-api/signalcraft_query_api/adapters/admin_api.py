"""Operations on the read models (issue 11.6): rebuild them by replaying the topics from offset 0,
and count their rows (to watch a rebuild catch up). The admin token's only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from signalcraft_runtime.consumer import BatchConsumer
from signalcraft_runtime.service import Service

from .. import handlers
from .auth import require_token

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_token)])


class RebuildStarted(BaseModel):
    generation: int = Field(description="The read models' new generation (0 before any rebuild)")
    consumer_group: str = Field(description="The new consumer group: no offsets yet, so it reads from 0")
    tables_emptied: list[str] = Field(description="The projection tables emptied (configuration is kept)")
    topics: list[str]


class ReadModelRows(BaseModel):
    rows: dict[str, int] = Field(description="Rows per projection table")


def _projection_consumer(service: Service) -> BatchConsumer:
    return next(c for c in service.consumers if isinstance(c, BatchConsumer) and c.handler is handlers.project)


@router.post("/rebuild-read-models")
async def rebuild_read_models(request: Request) -> RebuildStarted:
    """Stops the projection consumer, empties the projections and the inbox, and consumes again in a
    new consumer group from offset 0: the read models are rebuilt by replay after this returns (watch
    /api/admin/read-models). Run it with one query-api replica: another would keep projecting meanwhile
    in the old group until it restarts."""
    service: Service = request.app.state.service
    consumer = _projection_consumer(service)
    try:
        answer = await handlers.rebuild_read_models(service, consumer)
    except handlers.RebuildRunning as running:
        raise HTTPException(409, str(running)) from None
    return RebuildStarted(**answer, topics=[str(t) for t in consumer.topics])


@router.get("/read-models")
async def read_models(request: Request) -> ReadModelRows:
    return ReadModelRows(**await handlers.read_model_counts(request.app.state.service))
