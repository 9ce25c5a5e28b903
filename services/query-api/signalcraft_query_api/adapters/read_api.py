"""The read API the frontend uses: alerts and groups inboxes, a group with its timeline, the
dashboard, delivery health. Every answer is a typed model (domain/read_views.py), so the OpenAPI
document describes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from .. import handlers
from ..domain.read_views import (
    AlertPage, DeadLetter, DeliveryHealth, GroupDetail, GroupPage, InvalidCursor, Overview, SlackHealth,
)
from ..repository.read_queries import Filters, ReadQueries
from .auth import require_token

router = APIRouter(prefix="/api", tags=["read"], dependencies=[Depends(require_token)])


async def read_queries(request: Request) -> AsyncIterator[ReadQueries]:
    """The queries of one request, on one connection."""
    async with request.app.state.service.engine.connect() as conn:
        yield ReadQueries(conn)


def tag_filters(tag: list[str]) -> dict[str, str]:
    """`tag=key:value` (or key=value), repeatable: every one must be on the alert or group."""
    tags = {}
    for item in tag:
        key, sep, value = item.partition(":") if ":" in item else item.partition("=")
        if not sep or not key:
            raise HTTPException(422, f"tag {item!r}: expected key:value")
        tags[key] = value
    return tags


def inbox_filters(environment: str | None = None, project: str | None = None, severity: str | None = None,
                  source: str | None = None, status: str | None = None,
                  tag: list[str] = Query(default=[], description="key:value, repeatable (all must match)"),
                  q: str | None = Query(default=None, max_length=200, description="Text in the title"),
                  since: datetime | None = Query(default=None, description="From this time (inclusive)"),
                  until: datetime | None = Query(default=None, description="Up to this time (exclusive)")) -> Filters:
    return Filters(equal={"environment": environment, "project": project, "severity": severity, "source": source,
                          "status": status}, tags=tag_filters(tag), text=q, since=since, until=until)


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    workspace_id: str, filters: Filters = Depends(inbox_filters),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
    before: datetime | None = Query(default=None, description="Deprecated: use cursor"),
    limit: int = Query(50, ge=1, le=500), queries: ReadQueries = Depends(read_queries),
) -> AlertPage:
    """The alert inbox, newest first, each alert with its group. `since`/`until` bound received_at."""
    try:
        return await handlers.alerts_page(queries, workspace_id, filters, limit, cursor, before)
    except InvalidCursor as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/alert-groups", response_model=GroupPage)
async def list_groups(
    workspace_id: str, filters: Filters = Depends(inbox_filters),
    state: str | None = Query(default=None, description="open, acknowledged, snoozed, resolved (= status)"),
    assignee: str | None = None, unassigned: bool = False,
    sort: Literal["last_seen", "count", "severity"] = "last_seen",
    cursor: str | None = None, before: datetime | None = Query(default=None, description="Deprecated: use cursor"),
    limit: int = Query(50, ge=1, le=500), queries: ReadQueries = Depends(read_queries),
) -> GroupPage:
    """The groups inbox, largest `sort` first, with totals per status over the same filters."""
    filters.equal["status"] = filters.equal.get("status") or state
    filters.equal["assignee"] = assignee
    try:
        return await handlers.groups_page(queries, workspace_id, filters, limit, sort, cursor, before, unassigned)
    except InvalidCursor as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/alert-groups/{group_id}", response_model=GroupDetail)
async def group_detail(group_id: UUID, workspace_id: str | None = None,
                       alerts_limit: int = Query(100, ge=1, le=1000),
                       queries: ReadQueries = Depends(read_queries)) -> GroupDetail:
    """A group with its timeline (each step with who and when), related alerts, notifications, notes,
    assignee, runbook and the actions a person can take now."""
    detail = await handlers.group_detail(queries, group_id, workspace_id, alerts_limit)
    if detail is None:
        raise HTTPException(404, "no such alert group")
    return detail


@router.get("/dashboard/overview", response_model=Overview)
async def overview(workspace_id: str, hours: int = Query(24, ge=1, le=24 * 30),
                   queries: ReadQueries = Depends(read_queries)) -> Overview:
    """Noise (alerts, groups, dedup ratio, noisy sources), MTTA, MTTR, ack rate, delivery, alerts and
    groups per hour, and actionability per source and per rule, over `hours` (24, or 168 for 7 days)."""
    return await handlers.dashboard_overview(queries, workspace_id, hours)


@router.get("/delivery-health", response_model=DeliveryHealth)
async def delivery_health(workspace_id: str, limit: int = Query(20, ge=1, le=200),
                          queries: ReadQueries = Depends(read_queries)) -> DeliveryHealth:
    """Is anything silently broken? Per integration: last webhook, webhooks throttled and rejected
    (per status), and whether it has gone silent; the last Slack delivery, failures, dead letters,
    and the Slack token's validity (auth.test)."""
    return await handlers.delivery_health(queries, workspace_id, limit)


@router.post("/delivery-health/slack-check", response_model=SlackHealth)
async def check_slack_token(workspace_id: str, request: Request) -> SlackHealth:
    """Check the workspace's Slack token now (auth.test), as the periodic check does."""
    checked = await handlers.check_slack_token(request.app.state.service, workspace_id)
    if checked is None:
        raise HTTPException(404, "no Slack connection in this workspace")
    return checked


@router.get("/dead-letters", response_model=list[DeadLetter])
async def dead_letters(workspace_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                       queries: ReadQueries = Depends(read_queries)) -> list[dict[str, Any]]:
    """The global (admin) view: every workspace's dead letters and those whose workspace is unknown
    (an undecodable message); `workspace_id` narrows it to one workspace."""
    return await queries.dead_letters(workspace_id, limit)
