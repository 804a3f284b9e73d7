"""The gateway's health check that acts: a gateway that stops answering is killed and restarted.

Compose runs it as the gateway's healthcheck, as a script by its path (`python3
/app/router/hybrid_hook/health.py PORT`: it imports nothing from its package), in a container
started with an init process (`init: true`), so the gateway is a child of that init and not the
container's PID 1, which a signal from inside could not end. After FAILURES_TO_RESTART checks in
a row that get no answer, it kills the gateway; the init then exits and the restart policy
starts a fresh one. Standard library only.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.request
from pathlib import Path

FAILURES_TO_RESTART = 3
CHECK_TIMEOUT_S = 5
START_GRACE_S = 120  # a gateway younger than this is still starting, not stuck
STREAK_FILE = Path("/tmp/hybrid-health-failures")


def answers(port: int) -> bool:
    """Whether LiteLLM's liveness route answers on this container's loopback."""
    url = f"http://127.0.0.1:{port}/health/liveliness"
    try:
        with urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_S) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def init_children() -> dict[int, float]:
    """The processes the container's init started (the gateway) -> seconds each has run."""
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (1, os.getpid()):
            continue
        try:
            # After the name in parentheses: state, parent PID, ..., start time (22nd field).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == "1":
            children[int(entry.name)] = uptime_s - int(fields[19]) / ticks
    return children


def main(port: int) -> int:
    if answers(port):
        STREAK_FILE.unlink(missing_ok=True)
        return 0
    streak = int(STREAK_FILE.read_text() or 0) + 1 if STREAK_FILE.exists() else 1
    STREAK_FILE.write_text(str(streak))
    print(f"gateway not answering on port {port} ({streak} checks in a row)")
    if streak >= FAILURES_TO_RESTART:
        for pid, age_s in init_children().items():
            if age_s >= START_GRACE_S:
                STREAK_FILE.unlink(missing_ok=True)
                print(f"killing the gateway (pid {pid}, up {age_s:.0f} s) so that it restarts")
                os.kill(pid, signal.SIGKILL)
    return 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
