"""Run SignalCraft's real dependencies from pip packages: no Docker, no installed servers.

Used by `make run`, `make demo`, `make bench` and the test-suite, so the way the broker and the
database are started is written once.
"""
