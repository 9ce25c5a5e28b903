"""grouping: the severity bump's count per key's group (latest alert times in a bump environment,
the levels already raised from), so a restart neither forgets nor repeats a raise (issue 10.3)"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
SCHEMA = "grouping"


def upgrade() -> None:
    op.add_column("group_heads", sa.Column("bump", JSONB, nullable=True), schema=SCHEMA)
