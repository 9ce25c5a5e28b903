"""`make run` is a supervisor: it restarts the broker, the S3 server and PostgreSQL when they die,
and nothing it started outlives it.

The real `python -m signalcraft_devstack.run` runs in a temporary data directory on free ports. Its
processes are found by walking /proc (children and grandchildren, e.g. PostgreSQL's backends), never
through the supervisor's own bookkeeping.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from signalcraft_devstack.admin import sentry_headers, wait_until
from signalcraft_devstack.process import ManagedProcess

from .sentry_payloads import event_alert

pytestmark = pytest.mark.e2e

START_TIMEOUT = 180.0  # six services and three servers on a shared 2-core machine
RESTART_TIMEOUT = 60.0
GONE_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    start_time: int  # clock ticks since boot: tells a process from a later one with the same pid
    argv: tuple[str, ...]

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""


def read_process(pid: int) -> ProcessInfo | None:
    """None for a process that is gone or a zombie (dead, only not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return ProcessInfo(pid, int(fields[1]), int(fields[19]), tuple(a.decode(errors="replace") for a in argv if a))


def all_processes() -> list[ProcessInfo]:
    found = (read_process(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [p for p in found if p is not None]


def descendants(pid: int) -> list[ProcessInfo]:
    processes = all_processes()
    children: dict[int, list[ProcessInfo]] = {}
    for p in processes:
        children.setdefault(p.ppid, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def still_running(processes: list[ProcessInfo]) -> list[ProcessInfo]:
    return [p for p in processes if (now := read_process(p.pid)) is not None and now.start_time == p.start_time]


def is_postmaster(p: ProcessInfo) -> bool:
    return p.program == "postgres" and "-D" in p.argv


CHILDREN = {"tansu": lambda p: p.program == "tansu", "weed": lambda p: p.program == "weed", "postgres": is_postmaster,
            "broker-retention": lambda p: "signalcraft_devstack.broker_retention" in p.argv}


@dataclass
class Supervisor:
    process: ManagedProcess
    root: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def child(self, name: str) -> ProcessInfo | None:
        return next((p for p in descendants(self.pid) if p.ppid == self.pid and CHILDREN[name](p)), None)

    def urls(self) -> dict[str, str]:
        return json.loads((self.root / "urls.json").read_text())

    def database_url(self) -> str:
        postmaster = self.child("postgres")
        assert postmaster is not None
        port = postmaster.argv[postmaster.argv.index("-p") + 1]
        return f"postgresql://postgres@127.0.0.1:{port}/signalcraft"


def start_supervisor(root: Path) -> Supervisor:
    (root / "urls.json").unlink(missing_ok=True)
    process = ManagedProcess(
        "make-run", [sys.executable, "-m", "signalcraft_devstack.run"], root / "make-run.log",
        env={"SIGNALCRAFT_DATA_DIR": str(root), "SIGNALCRAFT_DEVSTACK_PREFERRED_PORTS": "0"},
        death_signal=signal.SIGTERM,  # if this test run dies, the supervisor stops its stack in order
    ).start()
    supervisor = Supervisor(process, root)

    def ready() -> bool:
        if not process.alive():
            raise RuntimeError(f"make run exited ({process.returncode}):\n{process.tail(60)}")
        return (root / "urls.json").exists()

    wait_until(ready, START_TIMEOUT, interval=0.5, what="make run printing its URLs")
    return supervisor


def stop_supervisor(supervisor: Supervisor) -> None:
    """Teardown, whatever a test left: stop in order, then kill anything of the stack still there."""
    started = descendants(supervisor.pid) if supervisor.process.alive() else []
    supervisor.process.stop(timeout=60)
    for leftover in still_running(started):
        os.kill(leftover.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="signalcraft-e2e-supervisor-"))


@pytest.fixture(scope="module")
def supervisor(data_dir: Path) -> Iterator[Supervisor]:
    running = start_supervisor(data_dir)
    yield running
    stop_supervisor(running)


def kill9_and_wait_for_restart(supervisor: Supervisor, name: str) -> ProcessInfo:
    before = supervisor.child(name)
    assert before is not None, f"no {name} under the supervisor"
    os.kill(before.pid, signal.SIGKILL)
    began = time.monotonic()
    after = wait_until(lambda: (p := supervisor.child(name)) is not None and p.pid != before.pid and p,
                       RESTART_TIMEOUT, what=f"{name} restarted")
    print(f"injected kill -9 of {name} (pid {before.pid}); new {name} pid {after.pid} after {time.monotonic() - began:.1f}s")
    return after


def assert_a_webhook_reaches_slack(supervisor: Supervisor) -> None:
    urls = supervisor.urls()
    token = uuid.uuid4().hex[:12]
    body = event_alert(str(int(token, 16) % 10**9), title=f"SupervisorCheck {token}")
    response = httpx.post(f"{urls['ingest']}/webhooks/sentry/{urls['integration_id']}", content=body,
                          headers=sentry_headers(body, urls["secret"]), timeout=30)
    assert response.status_code == 202, response.text
    began = time.monotonic()

    def posted() -> bool:
        messages = httpx.get(f"{urls['fake_slack']}/_fake/messages", timeout=10).json()
        return any(token in m["text"] for m in messages)

    wait_until(posted, 90, interval=0.5, what=f"the Slack message for webhook {token}")
    print(f"  webhook {token} reached the fake Slack {time.monotonic() - began:.1f}s after 202")


def test_a_killed_broker_is_restarted_and_notifications_flow_again(supervisor: Supervisor) -> None:
    kill9_and_wait_for_restart(supervisor, "tansu")
    assert_a_webhook_reaches_slack(supervisor)


def test_a_killed_s3_server_is_restarted_and_the_broker_keeps_its_data(supervisor: Supervisor) -> None:
    kill9_and_wait_for_restart(supervisor, "weed")
    assert_a_webhook_reaches_slack(supervisor)


def test_a_killed_postgres_is_restarted_on_its_data_and_the_services_reconnect(supervisor: Supervisor) -> None:
    kill9_and_wait_for_restart(supervisor, "postgres")
    database_url = supervisor.database_url()

    def answers() -> bool:
        try:
            with psycopg.connect(database_url, connect_timeout=2) as conn:
                return conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'signalcraft'").fetchone() == (1,)
        except psycopg.OperationalError:
            return False

    wait_until(answers, RESTART_TIMEOUT, what="the restarted PostgreSQL answering")
    assert_a_webhook_reaches_slack(supervisor)


def test_a_killed_broker_retention_is_restarted(supervisor: Supervisor) -> None:
    kill9_and_wait_for_restart(supervisor, "broker-retention")
    log = supervisor.root / "logs" / "broker-retention.log"
    wait_until(lambda: log.read_text().count("broker retention started") >= 2, RESTART_TIMEOUT,
               what="the restarted broker-retention running its sweeps")


def test_nothing_outlives_a_kill_9_of_the_supervisor(supervisor: Supervisor) -> None:
    started = descendants(supervisor.pid)
    assert {"tansu", "weed", "postgres", "broker-retention"} <= {name for p in started for name, match in CHILDREN.items() if match(p)}
    assert any(p.ppid != supervisor.pid for p in started), "expected PostgreSQL's backends as grandchildren"
    os.kill(supervisor.pid, signal.SIGKILL)
    began = time.monotonic()
    wait_until(lambda: not still_running(started), GONE_TIMEOUT, interval=0.1,
               what=f"the {len(started)} processes of the stack gone")
    print(f"injected kill -9 of the supervisor; all {len(started)} processes gone after {time.monotonic() - began:.1f}s")


def test_a_closed_terminal_stops_everything_in_order_and_a_restart_resumes(data_dir: Path) -> None:
    """SIGHUP, as when the terminal closes; also: `make run` starts again on the data a kill -9 left."""
    supervisor = start_supervisor(data_dir)
    try:
        started = descendants(supervisor.pid)
        os.kill(supervisor.pid, signal.SIGHUP)
        began = time.monotonic()
        assert supervisor.process.popen is not None
        assert supervisor.process.popen.wait(timeout=60) == 0
        assert not still_running(started)
        assert "stopped." in supervisor.process.tail(5)
        print(f"injected SIGHUP; supervisor and its {len(started)} processes stopped after {time.monotonic() - began:.1f}s")
    finally:
        stop_supervisor(supervisor)
