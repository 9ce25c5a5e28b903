"""Bearer-token auth for the API (the frontend and the CLI send SIGNALCRAFT_ADMIN_TOKEN)."""

from __future__ import annotations

import hmac

from fastapi import Header, HTTPException, Request


async def require_token(request: Request, authorization: str | None = Header(default=None)) -> None:
    expected: str = request.app.state.admin_token
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
