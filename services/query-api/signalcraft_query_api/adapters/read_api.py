"""The read API the frontend uses: inbox, groups with timeline, dashboard, delivery health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ..domain.read_views import page
from ..handlers import dashboard_overview
from ..repository.read_queries import ReadQueries
from .auth import require_token

router = APIRouter(prefix="/api", tags=["read"], dependencies=[Depends(require_token)])


async def read_queries(request: Request) -> AsyncIterator[ReadQueries]:
    """The queries of one request, on one connection."""
    async with request.app.state.service.engine.connect() as conn:
        yield ReadQueries(conn)


@router.get("/alerts")
async def list_alerts(
    workspace_id: str, environment: str | None = None, project: str | None = None,
    severity: str | None = None, source: str | None = None, status: str | None = None,
    before: datetime | None = None, limit: int = Query(50, ge=1, le=500),
    queries: ReadQueries = Depends(read_queries),
) -> dict[str, Any]:
    """The alert inbox: newest first; `before` (a received_at) pages back."""
    rows = await queries.alerts(workspace_id, before, limit, environment=environment, project=project,
                                severity=severity, source=source, status=status)
    return page(rows, limit, "received_at")


@router.get("/alert-groups")
async def list_groups(
    workspace_id: str, status: str | None = None, environment: str | None = None,
    project: str | None = None, severity: str | None = None, before: datetime | None = None,
    limit: int = Query(50, ge=1, le=500), queries: ReadQueries = Depends(read_queries),
) -> dict[str, Any]:
    rows = await queries.groups(workspace_id, before, limit, status=status, environment=environment,
                                project=project, severity=severity)
    return page(rows, limit, "last_seen_at")


@router.get("/alert-groups/{group_id}")
async def group_detail(group_id: UUID, alerts_limit: int = Query(100, ge=1, le=1000),
                       queries: ReadQueries = Depends(read_queries)) -> dict[str, Any]:
    """A group with its timeline, its recent alerts and its notifications."""
    detail = await queries.group_detail(group_id, alerts_limit)
    if detail is None:
        raise HTTPException(404, "no such alert group")
    return detail


@router.get("/dashboard/overview")
async def overview(workspace_id: str, hours: int = Query(24, ge=1, le=24 * 30),
                   queries: ReadQueries = Depends(read_queries)) -> dict[str, Any]:
    """Noise (alerts, groups, dedup ratio, noisy sources), MTTA, ack rate and delivery, over `hours`."""
    return await dashboard_overview(queries, workspace_id, hours)


@router.get("/delivery-health")
async def delivery_health(workspace_id: str, limit: int = Query(20, ge=1, le=200),
                          queries: ReadQueries = Depends(read_queries)) -> dict[str, Any]:
    """Is anything silently broken? Last webhook per integration, last Slack delivery, failures, dead letters."""
    return await queries.delivery_health(workspace_id, limit)


@router.get("/dead-letters")
async def dead_letters(workspace_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                       queries: ReadQueries = Depends(read_queries)) -> list[dict[str, Any]]:
    """The global (admin) view: every workspace's dead letters and those whose workspace is unknown
    (an undecodable message); `workspace_id` narrows it to one workspace."""
    return await queries.dead_letters(workspace_id, limit)
