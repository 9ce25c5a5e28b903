"""The devstack's PostgreSQL takes extra server settings from SIGNALCRAFT_DEVSTACK_PG_SETTINGS (how the
issue-13 statement profile loaded pg_stat_statements): a real server, started with them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from signalcraft_devstack.postgres import EmbeddedPostgres

pytestmark = pytest.mark.integration


def test_settings_from_the_environment_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALCRAFT_DEVSTACK_PG_SETTINGS",
                       "shared_preload_libraries=pg_stat_statements work_mem=7MB")
    root = Path(tempfile.mkdtemp(prefix="signalcraft-pg-settings-"))
    server = EmbeddedPostgres(root / "pg", durable=False).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
            conn.execute("CREATE EXTENSION pg_stat_statements")  # loadable only when preloaded
            assert conn.execute("SELECT count(*) >= 0 FROM pg_stat_statements").fetchone() == (True,)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
