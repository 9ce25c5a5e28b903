"""A child process with its log file, stopped politely and then firmly, and never outliving us."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent_pid: int, death_signal: int) -> Callable[[], None] | None:
    """A pre-exec step asking Linux to send `death_signal` to the child when its parent dies.

    Without it a kill -9 of the supervisor (or of a test run) leaves every child running, holding
    ports, data directories and hundreds of MB. Linux ties the signal to the *thread* that forked,
    so it is only set from the main thread: a child spawned from a worker thread would die with that
    thread. It is set after subprocess switches to `user` (a change of credentials clears it).
    """
    if _LIBC is None or threading.current_thread() is not threading.main_thread():
        return None
    libc = _LIBC

    def set_death_signal() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent_pid:  # the parent died before prctl: nobody would send the signal
            os._exit(126)

    return set_death_signal


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    # The signal for an orderly stop (PostgreSQL: SIGINT, its "fast" shutdown).
    stop_signal: int = signal.SIGTERM
    # The signal the child gets when we die without stopping it. SIGKILL by default: every process
    # here is built to survive a kill -9, and a signal the child handles slowly would let it linger.
    death_signal: int = signal.SIGKILL
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        env = {**os.environ, **self.env}
        # A new session, so Ctrl-C in the terminal reaches the supervisor only, which then stops
        # children in order (services before the broker and the database).
        # stdin from /dev/null: CI runs us with no standard input, and a child must not inherit
        # whatever descriptor happens to sit at 0 then.
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, user=self.user, preexec_fn=_die_with(os.getpid(), self.death_signal),
        )
        self.started_at = time.monotonic()
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while it runs; negative: killed by that signal."""
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """Crash it: SIGKILL, no chance to flush or commit anything."""
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""
