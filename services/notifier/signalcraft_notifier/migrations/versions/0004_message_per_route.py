"""notifier: a group's message per route, keyed by (group_id, channel) (issue 10.4, fan-out)

A group routed to several channels (a rule's `continue`, a route added when its severity was raised)
has a top-level message in each. Keyed by group_id alone, only the first route's message was
recorded, rewrites of all its messages coalesced into one, and the replies of every route queued as
one thread. Now each message is its own:
- group_messages: primary key (group_id, channel). Every existing row stays valid as it is (one per
  group, so one per group and channel); a second route's message is recorded beside it.
- rewrites: a `channel` column, part of the primary key: one queued rewrite per message. A waiting
  row gets the channel of the request it holds (the encoded envelope, JSON).
- replies: a `channel` column, the thread a reply belongs to (the route's channel: `group_channel` of
  an escalation posted in another target channel, else its channel); heads are claimed per
  (group_id, channel), in `seq` order. Waiting rows get it from the request they hold.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
SCHEMA = "notifier"

_DATA = "(convert_from(request, 'UTF8')::jsonb -> 'data')"  # the queued NotificationRequested


def upgrade() -> None:
    op.drop_constraint("group_messages_pkey", "group_messages", type_="primary", schema=SCHEMA)
    op.create_primary_key("group_messages_pkey", "group_messages", ["group_id", "channel"], schema=SCHEMA)

    op.execute(f"ALTER TABLE {SCHEMA}.rewrites ADD COLUMN channel text")
    op.execute(f"UPDATE {SCHEMA}.rewrites SET channel = {_DATA} ->> 'channel'")
    op.execute(f"ALTER TABLE {SCHEMA}.rewrites ALTER COLUMN channel SET NOT NULL")
    op.drop_constraint("rewrites_pkey", "rewrites", type_="primary", schema=SCHEMA)
    op.create_primary_key("rewrites_pkey", "rewrites", ["group_id", "channel"], schema=SCHEMA)

    op.execute(f"ALTER TABLE {SCHEMA}.replies ADD COLUMN channel text")
    op.execute(f"UPDATE {SCHEMA}.replies SET channel = COALESCE({_DATA} ->> 'group_channel', {_DATA} ->> 'channel')")
    op.execute(f"ALTER TABLE {SCHEMA}.replies ALTER COLUMN channel SET NOT NULL")
    op.drop_index("replies_group_seq", "replies", schema=SCHEMA)
    op.create_index("replies_group_seq", "replies", ["group_id", "channel", "seq"], schema=SCHEMA)
