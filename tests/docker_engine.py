"""Whether a Docker engine answers here: tests that need one (testcontainers, docker compose) skip
cleanly where none does."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache


@cache
def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
