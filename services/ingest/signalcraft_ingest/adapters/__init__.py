"""Adapters: where ingest talks to the outside world: the HTTP routes webhooks arrive on, and SNS
(signing certificates, subscription confirmations)."""
