"""escalator: one escalation timer per group and route (escalation policies: several routes may
each escalate the same group; a timer steps through its policy's levels in place)"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
SCHEMA = "escalator"


def upgrade() -> None:
    op.add_column("timers", sa.Column("route", sa.Text, nullable=False, server_default=""), schema=SCHEMA)
    op.drop_constraint("timers_pkey", "timers", schema=SCHEMA, type_="primary")
    op.create_primary_key("timers_pkey", "timers", ["kind", "group_id", "route"], schema=SCHEMA)
