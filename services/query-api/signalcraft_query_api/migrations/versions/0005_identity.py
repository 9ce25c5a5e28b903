"""query: users, workspace memberships with roles, API tokens stored as hashes (issue 11.1)"""

import sqlalchemy as sa
from alembic import op

revision = "0005_identity"
down_revision = "0004_severity_bump"
SCHEMA = "query"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users", sa.Column("user_id", sa.Text, primary_key=True), sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text), sa.Column("oidc_subject", sa.Text), sa.Column("slack_team_id", sa.Text),
        sa.Column("slack_user_id", sa.Text), sa.Column("created_at", TS, nullable=False), schema=SCHEMA)
    # E-mails are stored lower-cased; one user per e-mail, per OIDC subject, per Slack user.
    op.create_index("users_email", "users", ["email"], unique=True, schema=SCHEMA)
    op.create_index("users_oidc_subject", "users", ["oidc_subject"], unique=True, schema=SCHEMA)
    op.create_index("users_slack", "users", ["slack_team_id", "slack_user_id"], unique=True, schema=SCHEMA)
    op.create_table(
        "memberships", sa.Column("workspace_id", sa.Text, primary_key=True), sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False), sa.Column("added_at", TS, nullable=False), schema=SCHEMA)
    op.create_index("memberships_user", "memberships", ["user_id"], schema=SCHEMA)
    op.create_table(
        "api_tokens", sa.Column("token_id", sa.Text, primary_key=True), sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("workspace_id", sa.Text, nullable=False), sa.Column("role", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False), sa.Column("user_id", sa.Text), sa.Column("created_by", sa.Text),
        sa.Column("created_at", TS, nullable=False), sa.Column("expires_at", TS), sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS), schema=SCHEMA)
    op.create_index("api_tokens_workspace", "api_tokens", ["workspace_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("api_tokens", schema=SCHEMA)
    op.drop_table("memberships", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
