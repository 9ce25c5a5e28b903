"""grouping: the lifecycle history of each key's group (recent reopens for the flap count, alerts
counted silently during a snooze)"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
SCHEMA = "grouping"


def upgrade() -> None:
    op.add_column("group_heads", sa.Column("lifecycle", JSONB, nullable=True), schema=SCHEMA)
