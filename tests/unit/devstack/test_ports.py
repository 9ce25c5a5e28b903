"""Ports for the stack's processes are chosen where no outgoing connection can take them first."""

from __future__ import annotations

import random
import socket
from pathlib import Path

from signalcraft_devstack.ports import LOWEST_PORT, ephemeral_range, free_ports


def test_ports_are_distinct_free_and_below_the_range_the_kernel_hands_out_itself() -> None:
    low, _high = ephemeral_range()
    ports = free_ports(12)
    assert len(set(ports)) == 12
    assert all(LOWEST_PORT <= port < low for port in ports), ports
    for port in ports:  # and free: each can be bound now
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_chosen() -> None:
    first_choice = free_ports(1, random.Random(7))[0]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first_choice))
        taken.listen()
        assert first_choice not in free_ports(1, random.Random(7))  # same order of candidates


def test_the_ephemeral_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t50000\n")
    assert ephemeral_range(setting) == (40000, 50000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)
