"""The supervisor's restart policy, on fake processes and a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from signalcraft_devstack.supervisor import Component, RestartBackoff, Supervisor


def test_first_exit_restarts_at_once_then_waits_double_up_to_the_cap() -> None:
    backoff = RestartBackoff(first_wait=1.0, max_wait=8.0, healthy_after=30.0)
    assert [backoff.wait_after(ran_for=0.5) for _ in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_process_that_ran_long_enough_starts_over_at_once() -> None:
    backoff = RestartBackoff(first_wait=1.0, max_wait=8.0, healthy_after=30.0)
    for _ in range(4):
        backoff.wait_after(ran_for=0.5)
    assert backoff.wait_after(ran_for=31.0) == 0.0
    assert backoff.wait_after(ran_for=0.5) == 1.0


@dataclass
class FakeProcess:
    started_at: float
    running: bool = True
    returncode: int | None = None
    stopped: bool = False

    def alive(self) -> bool:
        return self.running

    def stop(self, timeout: float = 10.0) -> None:
        self.running, self.stopped = False, True

    def tail(self, lines: int = 40) -> str:
        return "last words"

    def crash(self) -> None:
        self.running, self.returncode = False, -9


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fleet:
    """Fake components whose restart starts a new FakeProcess, or fails while told to."""

    clock: FakeClock
    processes: dict[str, FakeProcess] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)

    def component(self, name: str, needs: tuple[str, ...] = ()) -> Component:
        self.processes[name] = FakeProcess(started_at=self.clock.now)

        def restart() -> None:
            self.started.append(name)
            self.processes[name] = FakeProcess(started_at=self.clock.now)
            if name in self.failing:
                raise TimeoutError(f"{name} did not answer")

        return Component(name, lambda: self.processes[name], restart, needs=needs,
                         backoff=RestartBackoff(first_wait=1.0, max_wait=30.0, healthy_after=30.0))


def supervisor_of(fleet: Fleet, *components: Component) -> tuple[Supervisor, list[str]]:
    said: list[str] = []
    return Supervisor(list(components), said.append, clock=fleet.clock), said


def test_a_dead_process_is_restarted_and_logged() -> None:
    fleet = Fleet(FakeClock())
    supervisor, said = supervisor_of(fleet, fleet.component("tansu"))
    fleet.clock.now += 60
    fleet.processes["tansu"].crash()
    supervisor.check()
    assert fleet.started == ["tansu"]
    assert fleet.processes["tansu"].alive()
    assert supervisor.restarts == {"tansu": 1}
    assert "tansu exited (code -9) after 60s" in said[0] and "last words" in said[0]
    assert said[1].startswith("tansu restarted in")


def test_a_failed_restart_is_stopped_and_retried_after_the_backoff() -> None:
    fleet = Fleet(FakeClock(), failing={"postgres"})
    supervisor, said = supervisor_of(fleet, fleet.component("postgres"))
    fleet.processes["postgres"].crash()
    supervisor.check()
    half_started = fleet.processes["postgres"]
    assert fleet.started == ["postgres"] and half_started.stopped
    assert "next attempt in 1s" in said[-1]
    supervisor.check()  # not due yet
    assert fleet.started == ["postgres"]
    fleet.clock.now += 1.0
    fleet.failing.clear()
    supervisor.check()
    assert fleet.started == ["postgres", "postgres"] and fleet.processes["postgres"].alive()
    assert supervisor.restarts == {"postgres": 1}


def test_a_component_waits_for_what_it_needs() -> None:
    fleet = Fleet(FakeClock(), failing={"seaweedfs"})
    supervisor, _ = supervisor_of(fleet, fleet.component("seaweedfs"), fleet.component("tansu", needs=("seaweedfs",)))
    fleet.processes["seaweedfs"].crash()
    fleet.processes["tansu"].crash()
    supervisor.check()
    assert fleet.started == ["seaweedfs"]  # Tansu is not started against a dead S3 server
    fleet.clock.now += 1.0
    fleet.failing.clear()
    supervisor.check()
    assert fleet.started == ["seaweedfs", "seaweedfs", "tansu"]


def test_nothing_is_started_once_a_stop_was_asked_for() -> None:
    fleet = Fleet(FakeClock())
    said: list[str] = []
    supervisor = Supervisor([fleet.component("ingest")], said.append, clock=fleet.clock, stopping=lambda: True)
    fleet.processes["ingest"].crash()
    supervisor.check()
    assert fleet.started == [] and said == []
