"""What every SignalCraft service runs on: settings, logging, database and migrations, the unit of
work (inbox + outbox in one transaction), the outbox relay, batch consumers that commit offsets
only after that transaction, the config view, health and telemetry. No service re-implements these.
"""
