"""ingest: the replay guard, one row per signed message within its replay window (issue 8)"""

import sqlalchemy as sa
from alembic import op

revision = "0002_replay_guard"
down_revision = "0001"
SCHEMA = "ingest"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Sentry signs only the body, Grafana without a timestamp header nothing fresh: the same signed
    # message again within its window is a replay. The primary key makes that hold across replicas.
    op.create_table(
        "replay_guard",
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("replay_key", sa.Text, primary_key=True),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("replay_guard_expires", "replay_guard", ["expires_at"], schema=SCHEMA)
