"""Free loopback ports for the processes we start.

A port is chosen here and bound later by the child, so between the two it must not be taken by
anyone else. Ports the kernel hands out by itself (`bind(0)`, and the source port of every outgoing
connection: a service's connection to PostgreSQL, Tansu's to S3) come from the ephemeral range
(`net.ipv4.ip_local_port_range`, 32768-60999 by default): a port chosen there can become some
connection's source port before the child binds it (seen: grouping's HTTP port taken while the
stack started, `address already in use`). So ports are picked at random *below* that range, where
the kernel never allocates on its own, and checked free by binding them.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

LOWEST_PORT = 10_000  # below: well-known and commonly configured ports
_DEFAULT_EPHEMERAL = (32768, 60999)


def ephemeral_range(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in path.read_text().split())
        return low, high
    except (OSError, ValueError):
        return _DEFAULT_EPHEMERAL


def _candidate_ports(rng: random.Random) -> list[int]:
    """Ports below the ephemeral range in random order; if that range leaves too little room below
    it, ports above it; failing both, none (the caller falls back to the kernel's choice)."""
    low, high = ephemeral_range()
    ranges = [(LOWEST_PORT, low - 1), (high + 1, 65535)]
    for first, last in ranges:
        if last - first >= 1000:
            ports = list(range(first, last + 1))
            rng.shuffle(ports)
            return ports
    return []


def _bound(port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        return sock
    except OSError:
        sock.close()
        return None


def free_ports(count: int, rng: random.Random | None = None) -> list[int]:
    """Distinct free ports outside the ephemeral range; all are held bound until every one is chosen."""
    socks: list[socket.socket] = []
    try:
        for port in _candidate_ports(rng or random.Random()):
            if len(socks) == count:
                break
            if (sock := _bound(port)) is not None:
                socks.append(sock)
        while len(socks) < count:  # no room outside the ephemeral range: let the kernel choose
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)
