"""query: a keyed fingerprint beside each secret that must be unique (PagerDuty routing keys), and
throttled webhooks counted per integration (issue 8)"""

import sqlalchemy as sa
from alembic import op

revision = "0003_hardening"
down_revision = "0002"
SCHEMA = "query"


def upgrade() -> None:
    # HMAC of the secret under a key derived from SIGNALCRAFT_SECRET_KEY: equal secrets are found by
    # the index, not by decrypting every row. NULL where the provider needs no uniqueness.
    op.add_column("integrations", sa.Column("secret_fingerprint", sa.Text), schema=SCHEMA)
    op.create_index("integrations_secret_fingerprint", "integrations", ["secret_fingerprint"], unique=True,
                    schema=SCHEMA)
    # An integration whose every webhook was throttled has activity but no accepted webhook yet.
    op.alter_column("integration_activity", "last_webhook_at", nullable=True, schema=SCHEMA)
    op.add_column("integration_activity",
                  sa.Column("throttled_total", sa.BigInteger, nullable=False, server_default="0"), schema=SCHEMA)
    op.add_column("integration_activity", sa.Column("last_throttled_at", sa.DateTime(timezone=True)), schema=SCHEMA)
