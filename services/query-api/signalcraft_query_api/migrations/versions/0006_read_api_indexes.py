"""query: indexes the read API needs at 100,000 groups and 1,000,000 alerts (bench/read_api_bench.py,
issue 11.8): a group's notifications, the groups inbox filtered by status, and the dashboard's
window scans (alerts by received time, covering what it counts, so it reads no table rows; groups
by first seen; notifications by request time)"""

from alembic import op

revision = "0006_read_api_indexes"
down_revision = "0005_read_api"
SCHEMA = "query"


def upgrade() -> None:
    # Group detail: was a sequential scan of every notification.
    op.create_index("notifications_group", "notifications", ["group_id", "requested_at"], schema=SCHEMA)
    # Dashboard: delivery counts over the window.
    op.create_index("notifications_ws_requested", "notifications", ["workspace_id", "requested_at"], schema=SCHEMA)
    # Groups inbox: the status filter (open, acknowledged, ...) is a small share of the workspace's groups;
    # last_seen order (the default sort) comes straight from the index. Its totals per status, over
    # the other filters (environment, severity, source, project, assignee, time), read the index alone.
    op.create_index("groups_ws_status_last_seen_id", "groups", ["workspace_id", "status", "last_seen_at", "group_id"],
                    postgresql_include=["environment", "severity", "source", "project", "assignee"], schema=SCHEMA)
    # Dashboard: groups opened in the window.
    op.create_index("groups_ws_first_seen", "groups", ["workspace_id", "first_seen_at"], schema=SCHEMA)
    # Dashboard: alerts in the window, counted per hour and per source/project/group key from the index
    # alone. Replaces (workspace_id, received_at), which it covers, so alerts keep as many indexes.
    op.create_index("alerts_ws_received_cover", "alerts", ["workspace_id", "received_at"],
                    postgresql_include=["source", "project", "group_key", "is_test"], schema=SCHEMA)
    op.drop_index("alerts_ws_received", "alerts", schema=SCHEMA)


def downgrade() -> None:
    op.create_index("alerts_ws_received", "alerts", ["workspace_id", "received_at"], schema=SCHEMA)
    for index, table in (("alerts_ws_received_cover", "alerts"), ("groups_ws_first_seen", "groups"),
                         ("groups_ws_status_last_seen_id", "groups"), ("notifications_ws_requested", "notifications"),
                         ("notifications_group", "notifications")):
        op.drop_index(index, table, schema=SCHEMA)
