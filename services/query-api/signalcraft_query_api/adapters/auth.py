"""Who calls, and may they: the router-level dependency on every /api router (issue 11.1).

`require_token` authenticates the bearer (the static SIGNALCRAFT_ADMIN_TOKEN: the super-user; an API
token `sc_…`; an OIDC JWT when SIGNALCRAFT_OIDC_* are set), then decides with the route's declared
need (domain/route_access.ROUTE_NEEDS) and the workspaces the request names: `workspace_id` in the
path, the query or a JSON body, and the workspace of every id in the path. Another workspace's ids
answer 404, a role too low 403. The caller is left on `request.state.caller` (`current_caller`).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Header, HTTPException, Request

from signalcraft_runtime.clock import utcnow

from ..domain.identity import (
    SUPERUSER, Caller, Verdict, decide, needs_touch, oidc_caller, oidc_identity, token_caller, token_id_of,
    token_matches, token_refusal,
)
from ..domain.route_access import LISTS_OWN_WORKSPACES, ROUTE_NEEDS, WORKSPACE_OWNED_IDS, route_key
from ..repository.identity import IdentityRows
from .oidc import InvalidJwt, looks_like_jwt

# An id that matches nothing: no caller has a role there, so it answers 404 like another workspace's.
NO_SUCH_WORKSPACE = "\0none"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def require_token(request: Request, authorization: str | None = Header(default=None)) -> Caller:
    caller = await authenticate(request, authorization)
    request.state.caller = caller
    route = request.scope.get("route")
    key = route_key(request.method, getattr(route, "path", request.url.path))
    named = set() if caller.superuser else await named_workspaces(request)
    need = ROUTE_NEEDS.get(key)
    verdict = decide(caller, need, named, lists_own=key in LISTS_OWN_WORKSPACES)
    if verdict == Verdict.NOT_FOUND:
        raise HTTPException(404, "not found")
    if verdict == Verdict.FORBIDDEN:
        role = need.role if need is not None else None
        raise HTTPException(403, f"needs the {role.value} role in the workspace the request names" if role
                            else "needs the admin token")
    return caller


def current_caller(request: Request) -> Caller:
    """The caller `require_token` authenticated (endpoints add it as a dependency)."""
    return request.state.caller  # type: ignore[no-any-return]


async def authenticate(request: Request, authorization: str | None) -> Caller:
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise _unauthorized("missing bearer token")
    state = request.app.state
    if hmac.compare_digest(presented.encode(), state.admin_token.encode()):
        return SUPERUSER
    token_id = token_id_of(presented)
    if token_id is not None:
        return await _api_token_caller(request, token_id, presented)
    if looks_like_jwt(presented) and getattr(state, "oidc", None) is not None:
        return await _oidc_caller(request, presented)
    raise _unauthorized("missing or wrong bearer token")


async def _api_token_caller(request: Request, token_id: str, presented: str) -> Caller:
    now = utcnow()
    engine = request.app.state.service.engine
    async with engine.connect() as conn:
        row = await IdentityRows(conn).token(token_id)
    if row is None or not token_matches(presented, row["token_hash"]):
        raise _unauthorized("missing or wrong bearer token")
    refusal = token_refusal(row["revoked_at"], row["expires_at"], now)
    if refusal is not None:
        raise _unauthorized(refusal)
    if needs_touch(row["last_used_at"], now):
        async with engine.begin() as conn:
            await IdentityRows(conn).touch_token(token_id, now)
    return token_caller(row)


async def _oidc_caller(request: Request, presented: str) -> Caller:
    try:
        claims = await request.app.state.oidc.claims(presented)
    except InvalidJwt as exc:
        raise _unauthorized(f"invalid token: {exc}") from None
    identity = oidc_identity(claims)
    async with request.app.state.service.engine.connect() as conn:
        rows = IdentityRows(conn)
        user = (await rows.user_by_subject(identity.subject) if identity.subject else None) or (
            await rows.user_by_email(identity.email) if identity.email else None)
        if user is None:
            raise HTTPException(403, "no SignalCraft user for this identity (add it as a workspace member)")
        return oidc_caller(user, await rows.memberships_of(user["user_id"]))


async def named_workspaces(request: Request) -> set[str]:
    """Every workspace the request names; an id of nothing names NO_SUCH_WORKSPACE."""
    named = {ws for ws in (request.path_params.get("workspace_id"), request.query_params.get("workspace_id"))
             if ws}
    body_workspace = (await _json_body(request)).get("workspace_id")
    if isinstance(body_workspace, str):
        named.add(body_workspace)
    owned = [(p, str(v)) for p, v in request.path_params.items() if p in WORKSPACE_OWNED_IDS]
    if owned:
        async with request.app.state.service.engine.connect() as conn:
            rows = IdentityRows(conn)
            for param, value in owned:
                named.add(await rows.workspace_of(param, value) or NO_SUCH_WORKSPACE)
    return named


async def _json_body(request: Request) -> dict[str, Any]:
    """The JSON object body (FastAPI has read and cached it already), or {}."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE") or "json" not in request.headers.get("content-type", ""):
        return {}
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
