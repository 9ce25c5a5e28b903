"""Live updates for the frontend: `GET /api/stream?workspace_id=...`, server-sent events of the
workspace's group changes (opened, updated, acknowledged, snoozed, assigned, note added, resolved...).

Each event's id is the change's number in `query.group_changes`, which the projection writes in the
transaction of the change itself; a client that reconnects with `Last-Event-ID: n` (browsers' EventSource
does so by itself) gets every change after n, none twice. Without it the stream starts from now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from ..domain.read_views import resume_after, sse_message
from ..repository.read_queries import ReadQueries
from .auth import require_token

router = APIRouter(prefix="/api", tags=["live"], dependencies=[Depends(require_token)])

POLL_S = 0.5  # how soon a committed change reaches an open stream
KEEPALIVE_S = 15.0  # a comment line, so proxies keep an idle stream open
BATCH = 500


async def changes(request: Request, workspace_id: str, after: int | None) -> AsyncIterator[str]:
    service = request.app.state.service
    engine = service.engine
    if after is None:
        async with engine.connect() as conn:
            after = await ReadQueries(conn).last_change(workspace_id)
    yield f"retry: 2000\n: resuming after {after}\n\n"
    idle = 0.0
    while not service.draining and not await request.is_disconnected():
        async with engine.connect() as conn:
            found = await ReadQueries(conn).changes_after(workspace_id, after, BATCH)
        for change in found:
            after = change["seq"]
            yield sse_message(change["seq"], change["type"], change["data"])
        if found:
            idle = 0.0
            continue
        await asyncio.sleep(POLL_S)
        idle += POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}})
async def stream(request: Request, workspace_id: str,
                 last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
                 since: int | None = Query(default=None, ge=0, description="Like Last-Event-ID, for clients that "
                                           "cannot set headers")) -> StreamingResponse:
    """The workspace's group changes as server-sent events (event: the change's type; data: the group
    as it now stands); resumable with Last-Event-ID."""
    after = resume_after(last_event_id) if last_event_id is not None else since
    return StreamingResponse(changes(request, workspace_id, after), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
