"""`make run`'s supervisor: restarts whatever process of the stack exits, infrastructure included.

Every process is checked in dependency order (PostgreSQL and the S3 server before Tansu, Tansu
before the services). One that exited is restarted at once; one that keeps exiting is restarted
after doubling waits (1 s, 2 s, ... 30 s) until it stays up. Data stays: PostgreSQL restarts on its
data directory and port, `weed mini` on its directory and ports, Tansu on the same S3 bucket.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .stack import SERVICES, Stack


class Process(Protocol):
    started_at: float

    @property
    def returncode(self) -> int | None: ...

    def alive(self) -> bool: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def tail(self, lines: int = 40) -> str: ...


@dataclass
class RestartBackoff:
    """How long to wait before restarting a process that exited (or failed to start)."""

    first_wait: float = 1.0
    max_wait: float = 30.0
    # A process that ran this long was healthy: its next exit is a first failure again.
    healthy_after: float = 30.0
    failures: int = 0

    def wait_after(self, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.failures = 0
        self.failures += 1
        if self.failures == 1:
            return 0.0
        return min(self.max_wait, self.first_wait * 2 ** (self.failures - 2))


@dataclass
class Component:
    """One supervised process: how to find its current process, how to start it again, and the
    components it needs running first."""

    name: str
    process: Callable[[], Process | None]
    restart: Callable[[], object]
    needs: tuple[str, ...] = ()
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    restart_at: float | None = None  # monotonic time of the next attempt, while it is down

    def alive(self) -> bool:
        process = self.process()
        return process is not None and process.alive()


class Supervisor:
    def __init__(self, components: list[Component], say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic, stopping: Callable[[], bool] = lambda: False) -> None:
        self.components = components
        self.say = say
        self.clock = clock
        self.stopping = stopping  # a stop was asked for: start nothing more
        self.restarts: dict[str, int] = {c.name: 0 for c in components}

    def check(self) -> None:
        """Restart what is down and due, in dependency order; one pass, to be called in a loop."""
        down: set[str] = set()
        for component in self.components:
            if self.stopping():
                return
            if component.alive():
                continue
            now = self.clock()
            if component.restart_at is None:
                process = component.process()
                ran_for = now - process.started_at if process is not None else 0.0
                wait = component.backoff.wait_after(ran_for)
                component.restart_at = now + wait
                code = process.returncode if process is not None else None
                last_lines = process.tail(20) if process is not None else ""
                self.say(f"{component.name} exited (code {code}) after {ran_for:.0f}s; last lines:\n{last_lines}\n"
                         f"restarting {component.name} " + (f"in {wait:.0f}s" if wait else "now"))
            waiting_for = [name for name in component.needs if name in down]
            if now < component.restart_at or waiting_for:
                down.add(component.name)
                continue
            if not self._restart(component):
                down.add(component.name)

    def _restart(self, component: Component) -> bool:
        began = self.clock()
        try:
            component.restart()
        except Exception as exc:  # a failed start is one more failure, retried after a longer wait
            process = component.process()
            if process is not None:
                process.stop()
            wait = component.backoff.wait_after(0.0)
            component.restart_at = self.clock() + wait
            self.say(f"restarting {component.name} failed: {exc}\nnext attempt in {wait:.0f}s")
            return False
        component.restart_at = None
        self.restarts[component.name] += 1
        self.say(f"{component.name} restarted in {self.clock() - began:.1f}s")
        return True


def components_of(stack: Stack) -> list[Component]:
    """The stack's processes in the order they depend on each other."""
    components: list[Component] = []
    infrastructure: list[str] = []
    if not stack.options.external_database_url:
        components.append(Component("postgres", lambda: stack.postgres.process, stack.postgres.start))
        infrastructure.append("postgres")
    broker = stack.broker
    if broker.s3 is not None:
        s3 = broker.s3
        components.append(Component("seaweedfs", lambda: s3.process, s3.start))
        components.append(Component("tansu", lambda: broker.process, broker.start_broker_only, needs=("seaweedfs",)))
        if broker.retention is not None:
            components.append(Component("broker-retention", lambda: broker.retention_process, broker.start_retention,
                                        needs=("seaweedfs",)))
    else:
        components.append(Component("tansu", lambda: broker.process, broker.start_broker_only))
    infrastructure.append("tansu")
    components.append(Component("fake-slack", lambda: stack.processes.get("fake-slack"), stack.start_fake_slack))
    for name in SERVICES:
        components.append(Component(name, lambda name=name: stack.processes.get(name),  # type: ignore[misc]
                                    lambda name=name: stack.start_service(name), needs=tuple(infrastructure)))
    return components
