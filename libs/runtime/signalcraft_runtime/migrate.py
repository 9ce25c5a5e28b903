"""Alembic migrations, one version history per service schema.

Each service keeps `migrations/` (alembic `env.py` calling `run_env()`, and `versions/`). `upgrade()`
runs at service start under an advisory lock, so replicas starting together migrate once.
The runtime's own tables (inbox, outbox) change in a branch of their own, labelled `runtime`, so
`upgrade()` goes to every head, the service's and the runtime's.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import create_engine, text

from .database import sqlalchemy_url


def upgrade(database_url: str, schema: str, script_location: Path) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    lock_key = zlib.crc32(f"signalcraft-migrate-{schema}".encode())
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key})
            try:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                conn.commit()
                config = Config()
                config.set_main_option("script_location", str(script_location))
                config.attributes["connection"] = conn
                config.attributes["schema"] = schema
                command.upgrade(config, "heads")
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
                conn.commit()
    finally:
        engine.dispose()


def run_env() -> None:
    """The body of every service's alembic env.py."""
    config = context.config
    conn = config.attributes["connection"]
    schema = config.attributes["schema"]
    context.configure(connection=conn, version_table_schema=schema, include_schemas=True)
    with context.begin_transaction():
        context.run_migrations()
