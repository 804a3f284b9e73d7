"""A box's compose project over SSH, with the same reading interface as the local one."""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Protocol

from hybridctl.deploy.compose.compose import ComposeProject, ServiceState, parse_ps
from hybridctl.remote.ssh import SshClient, as_root


class Compose(Protocol):
    """What upgrade, snapshot and the serving wait need from a compose project, wherever it runs."""

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        """Run `docker compose ARGS` in the project; output as bytes, exit code kept."""
        ...

    def states(self) -> dict[str, ServiceState]: ...

    def logs(self, service: str, lines: int = 30) -> str: ...

    def copy_out(self, source: str, dest: Path) -> bool: ...


def single_file_from_tar(stream: bytes, dest: Path) -> bool:
    """Write the one regular file in a tar stream (what `compose cp SRC -` prints) to dest."""
    try:
        with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    data = tar.extractfile(member)
                    if data is None:
                        return False
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(data.read())
                    return True
    except tarfile.TarError:
        return False
    return False


class LocalCompose:
    """The local project (ComposeProject) seen through the Compose protocol."""

    def __init__(self, project: ComposeProject) -> None:
        self.project = project
        self.where = "this machine"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                self.project.argv(*args),
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(args), 124, b"", b"timed out")

    def states(self) -> dict[str, ServiceState]:
        return self.project.states()

    def logs(self, service: str, lines: int = 30) -> str:
        return self.project.logs(service, lines)

    def copy_out(self, source: str, dest: Path) -> bool:
        return self.project.copy_out(source, dest)


class RemoteCompose:
    """The box's project in `bundle_dir`, driven over SSH (pinned host key) as root."""

    def __init__(self, client: SshClient, bundle_dir: str, *, project: str | None = None) -> None:
        self.client = client
        self.bundle_dir = bundle_dir
        self.project = project
        self.where = str(client.target)

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        named = ("--project-name", self.project) if self.project else ()
        quoted = " ".join(shlex.quote(a) for a in (*named, *args))
        script = f"cd {shlex.quote(self.bundle_dir)} && docker compose {quoted}"
        return self.client.run(as_root(script), timeout_s=timeout)

    def states(self) -> dict[str, ServiceState]:
        done = self.compose("ps", "--all", "--format", "json", timeout=120)
        if done.returncode != 0:
            return {}
        return {s.service: s for s in parse_ps(done.stdout.decode("utf-8", "replace"))}

    def logs(self, service: str, lines: int = 30) -> str:
        done = self.compose("logs", "--no-color", "--tail", str(lines), service, timeout=120)
        return (done.stdout + done.stderr).decode("utf-8", "replace").strip()

    def copy_out(self, source: str, dest: Path) -> bool:
        done = self.compose("cp", source, "-", timeout=120)
        return done.returncode == 0 and single_file_from_tar(done.stdout, dest)
