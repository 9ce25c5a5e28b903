"""Operations shared by every service's first migration."""

from __future__ import annotations

from alembic import op

from .database import ServiceTables


def create_inbox_and_outbox(schema: str) -> None:
    """The inbox and outbox exactly as the runtime defines them (database.py), indexes included."""
    tables = ServiceTables(schema)
    bind = op.get_bind()
    tables.inbox.create(bind)
    tables.outbox.create(bind)
