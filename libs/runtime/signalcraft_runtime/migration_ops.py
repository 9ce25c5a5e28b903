"""Operations shared by every service's migrations: the inbox and outbox are the runtime's."""

from __future__ import annotations

from alembic import op

from .database import ServiceTables


def create_inbox_and_outbox(schema: str) -> None:
    """The inbox and outbox exactly as the runtime defines them (database.py), indexes included."""
    tables = ServiceTables(schema)
    bind = op.get_bind()
    tables.inbox.create(bind)
    tables.outbox.create(bind)


def add_outbox_traceparent(schema: str) -> None:
    """The outbox's traceparent column (telemetry.py). A schema created since then has it from
    `create_inbox_and_outbox` already, hence IF NOT EXISTS."""
    op.execute(f'ALTER TABLE "{schema}".outbox ADD COLUMN IF NOT EXISTS traceparent text')
