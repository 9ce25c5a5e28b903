"""router: a group may have several routes (fan-out with `continue`): one row per (group, channel),
with its rank, its user-group mention and its rule's quick actions"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
SCHEMA = "router"


def upgrade() -> None:
    op.add_column("group_routes", sa.Column("position", sa.Integer, nullable=False, server_default="0"), schema=SCHEMA)
    op.add_column("group_routes", sa.Column("mention_usergroup", sa.Text), schema=SCHEMA)
    op.add_column("group_routes", sa.Column("quick_actions", JSONB, nullable=False, server_default="[]"),
                  schema=SCHEMA)
    op.drop_constraint("group_routes_pkey", "group_routes", schema=SCHEMA, type_="primary")
    op.create_primary_key("group_routes_pkey", "group_routes", ["group_id", "channel"], schema=SCHEMA)
