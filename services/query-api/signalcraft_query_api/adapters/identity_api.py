"""Members and API tokens (issue 11.1): `/api/workspaces/{id}/members` and `/api/tokens` (owners),
`/api/me` (anyone authenticated). Writes go to `handlers.py`; lists read the rows directly, and show
only the caller's workspaces."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from .. import handlers
from ..domain.config import UnknownWorkspace
from ..domain.identity import (
    AccessError, Caller, IdentityInUse, InvalidTokenRequest, NewMember, Role, TokenRequest, UnknownMember, token_view,
)
from ..repository.identity import IdentityRows
from .auth import current_caller, require_token
from .request_bodies import RequestBody

router = APIRouter(prefix="/api", tags=["identity"], dependencies=[Depends(require_token)])

STATUS_OF_ERROR: dict[type[Exception], int] = {
    AccessError: 403, InvalidTokenRequest: 422, UnknownMember: 404, UnknownWorkspace: 404, IdentityInUse: 409,
}


@contextmanager
def _http_errors() -> Iterator[None]:
    try:
        yield
    except tuple(STATUS_OF_ERROR) as exc:
        raise HTTPException(STATUS_OF_ERROR[type(exc)], str(exc)) from exc


async def identity_rows(request: Request) -> AsyncIterator[IdentityRows]:
    async with request.app.state.service.engine.connect() as conn:
        yield IdentityRows(conn)


class Me(BaseModel):
    kind: str = Field(description="superuser (the admin token), token (an API token) or oidc")
    superuser: bool
    user_id: str | None
    token_id: str | None
    name: str
    workspaces: dict[str, Role] = Field(description="workspace -> your role there (empty for the super-user: all)")


@router.get("/me")
async def me(caller: Caller = Depends(current_caller)) -> Me:
    return Me(kind=caller.kind, superuser=caller.superuser, user_id=caller.user_id, token_id=caller.token_id,
              name=caller.name, workspaces=dict(caller.roles))


class MemberIn(RequestBody):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role = Role.MEMBER
    name: str | None = Field(default=None, max_length=200)
    oidc_subject: str | None = Field(default=None, min_length=1, max_length=255,
                                     description="The `sub` claim of the user's OIDC tokens")
    slack_team_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,32}$")
    slack_user_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,32}$",
                                      description="Slack clicks by this user act as this member")


class Member(BaseModel):
    user_id: str
    email: str
    name: str | None
    role: Role
    oidc_subject: str | None
    slack_team_id: str | None
    slack_user_id: str | None
    added_at: datetime


@router.post("/workspaces/{workspace_id}/members", status_code=201)
async def add_member(workspace_id: str, body: MemberIn, request: Request,
                     caller: Caller = Depends(current_caller)) -> Member:
    member = NewMember(**body.model_dump())
    with _http_errors():
        return Member(**await handlers.add_member(request.app.state.service, caller, workspace_id, member))


@router.get("/workspaces/{workspace_id}/members")
async def list_members(workspace_id: str, rows: IdentityRows = Depends(identity_rows)) -> list[Member]:
    return [Member(**row) for row in await rows.members(workspace_id)]


@router.delete("/workspaces/{workspace_id}/members/{user_id}", status_code=204)
async def remove_member(workspace_id: str, user_id: str, request: Request) -> Response:
    with _http_errors():
        await handlers.remove_member(request.app.state.service, workspace_id, user_id)
    return Response(status_code=204)


class TokenIn(RequestBody):
    workspace_id: str
    role: Role = Role.MEMBER
    name: str = Field(min_length=1, max_length=200)
    expires: str | None = Field(default=None, max_length=40, description='"30d", "12h", ISO 8601; omitted: never')
    user_id: str | None = Field(default=None, description="A personal token of this member; omitted: a service token")


class Token(BaseModel):
    token_id: str
    prefix: str = Field(description="How the token begins (sc_<token_id>_): find a leaked token by it")
    workspace_id: str
    role: Role
    name: str
    user_id: str | None
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(Token):
    token: str = Field(description="The bearer token: shown this once, stored only as a hash")


@router.post("/tokens", status_code=201)
async def create_token(body: TokenIn, request: Request, caller: Caller = Depends(current_caller)) -> TokenCreated:
    ask = TokenRequest(**body.model_dump())
    with _http_errors():
        return TokenCreated(**await handlers.create_token(request.app.state.service, caller, ask))


@router.get("/tokens")
async def list_tokens(workspace_id: str | None = None, caller: Caller = Depends(current_caller),
                      rows: IdentityRows = Depends(identity_rows)) -> list[Token]:
    """The tokens of the workspaces you own (`workspace_id` narrows to one); never the tokens themselves."""
    scope = None if caller.superuser else caller.workspaces_with(Role.OWNER)
    if workspace_id is not None:
        scope = [workspace_id]  # the access check has made sure it is one of yours
    return [Token(**token_view(row)) for row in await rows.tokens(scope)]


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, request: Request) -> Response:
    with _http_errors():
        await handlers.revoke_token(request.app.state.service, token_id)
    return Response(status_code=204)
