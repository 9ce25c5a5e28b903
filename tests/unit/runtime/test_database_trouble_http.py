"""A request the database could not serve just now is a 503 with Retry-After, never a 500: the fuzz
suite saw a read wait behind a rebuild's TRUNCATE and a deadlock PostgreSQL broke by aborting it."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from signalcraft_runtime.service import DATABASE_RETRY_AFTER_S, answer_database_trouble_with_503


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        raise error

    @app.get("/bug")
    async def bug() -> dict[str, str]:
        raise ValueError("a defect of ours")

    answer_database_trouble_with_503(app)
    return app


@pytest.mark.parametrize("error", [
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
    OperationalError("SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")),
    PoolTimeout("QueuePool limit reached"),
], ids=["deadlock", "lock-timeout", "connection-lost", "pool-exhausted"])
async def test_database_trouble_is_a_503_with_retry_after(error: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        response = await client.get("/thing")
        assert response.status_code == 503
        assert response.headers["retry-after"] == str(DATABASE_RETRY_AFTER_S)
        assert "retry" in response.json()["error"]
        # A defect of ours stays a 500: only the database's availability is the client's to wait out.
        assert (await client.get("/bug")).status_code == 500
