"""notifier: the outbox keeps the trace context of each event (telemetry.py)

A branch of its own after 0001 (which created the outbox): the runtime's tables evolve apart from
the service's, and the runtime upgrades to every head.
"""

from signalcraft_runtime.migration_ops import add_outbox_traceparent

revision = "runtime_0001"
down_revision = "0001"
branch_labels = ("runtime",)
SCHEMA = "notifier"


def upgrade() -> None:
    add_outbox_traceparent(SCHEMA)
