"""Adapters: the I/O the pure ingest code asks for (certificates, confirmations), behind small classes."""
