"""query: the alert each silent source raised (issue 11.2), one row per integration: the silence it is
about (the quiet after the webhook at `quiet_since`), the alert as raised, and when it was resolved.
Durable so a restart neither raises a silence twice nor forgets to resolve it. Not a projection: a
rebuild of the read models keeps it. A branch of its own, as other work of the time adds revisions too."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "silence_0001"
down_revision = "0003_hardening"
branch_labels = ("silence",)
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "silence_alerts",
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("workspace_id", sa.Text, nullable=False),
        sa.Column("quiet_since", TS, nullable=False),
        sa.Column("alert", JSONB, nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_reason", sa.Text),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("silence_alerts", schema=SCHEMA)
