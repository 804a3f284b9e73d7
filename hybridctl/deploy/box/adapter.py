"""The box adapter: a deployment's compose project and a shell, on this machine or over SSH."""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.compose.compose import ComposeProject, ServiceState, parse_ps
from hybridctl.errors import InputError, OperationFailed
from hybridctl.providers.registry import is_local
from hybridctl.remote.ssh import SshClient, as_root
from hybridctl.stackfacts import ADMIN_USER, BUNDLE_DIR_ON_HOST, ON_BOX_PROJECT

__all__ = ["ON_BOX_PROJECT", "Box", "Done", "LocalBox", "RemoteBox", "box_for", "ssh_client_for"]


@dataclass(frozen=True)
class Done:
    """A finished command: exit code and its output as bytes (archives travel through it)."""

    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


class Box(Protocol):
    """A deployment's compose project and a shell beside it, wherever the box runs: what deploy
    (serving wait, verify, upgrade) and ops (keys, bench, logs, status, backup) use."""

    where: str
    directory: str  # the bundle's folder on the box (docker-compose.yml, .env)

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Done:
        """Run `docker compose ARGS` in the project; output as bytes, exit code kept."""
        ...

    def shell(self, script: str, *, stdin: bytes | None = None, timeout: float = 120) -> Done: ...

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int: ...

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


class LocalBox:
    """A box under Docker Compose on this machine (`deploy --provider local`).

    With `timeout_exit`, a compose command past its limit ends with exit 124 instead of an
    error, so that the deploy's and upgrade's waits report it as a failed step."""

    def __init__(self, name: str, bundle: Path, *, timeout_exit: bool = False) -> None:
        self.name = name
        self.bundle = bundle
        self.project = ComposeProject(name, bundle)
        self.directory = str(bundle)
        self.where = "this machine"
        self.timeout_exit = timeout_exit

    def _run(self, argv: list[str], stdin: bytes | None, timeout: float) -> Done:
        try:
            done = subprocess.run(
                argv,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            if self.timeout_exit:
                return Done(124, b"", b"timed out")
            raise OperationFailed(
                f"{' '.join(argv[:3])} ... did not finish within {timeout:.0f} s"
            ) from None
        return Done(done.returncode, done.stdout, done.stderr)

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Done:
        return self._run(self.project.argv(*args), stdin, timeout)

    def shell(self, script: str, *, stdin: bytes | None = None, timeout: float = 120) -> Done:
        return self._run(["/bin/sh", "-c", script], stdin, timeout)

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int:
        process = subprocess.Popen(
            self.project.argv(*args), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        return _pump(process, on_chunk)

    def states(self) -> dict[str, ServiceState]:
        return self.project.states()

    def logs(self, service: str, lines: int = 30) -> str:
        return self.project.logs(service, lines)

    def copy_out(self, source: str, dest: Path) -> bool:
        return self.project.copy_out(source, dest)


class RemoteBox:
    """A cloud box over SSH (pinned host key), as root, in the bundle's directory.

    `project` None runs the bundle's own project name; `project_directory` also names the
    directory to compose (as day-two operations do) beside changing into it."""

    def __init__(
        self,
        client: SshClient,
        *,
        directory: str,
        project: str | None = None,
        project_directory: bool = False,
    ) -> None:
        self.client = client
        self.project = project
        self.directory = directory
        self.project_directory = project_directory
        self.where = str(client.target)

    def _script(self, words: list[str]) -> str:
        quoted = " ".join(shlex.quote(w) for w in words)
        return as_root(f"cd {shlex.quote(self.directory)} && {quoted}")

    def _compose(self, args: tuple[str, ...]) -> list[str]:
        named = ["--project-name", self.project] if self.project else []
        folder = ["--project-directory", self.directory] if self.project_directory else []
        return ["docker", "compose", *named, *folder, *args]

    def _run(self, script: str, stdin: bytes | None, timeout: float) -> Done:
        import tempfile

        if stdin is None:
            done = self.client.run(script, timeout_s=timeout)
            return Done(done.returncode, done.stdout, done.stderr)
        with tempfile.NamedTemporaryFile(prefix="hybridctl-stdin-") as handle:
            Path(handle.name).chmod(0o600)
            handle.write(stdin)
            handle.flush()
            done = self.client.run(script, stdin_path=Path(handle.name), timeout_s=timeout)
        return Done(done.returncode, done.stdout, done.stderr)

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Done:
        return self._run(self._script(self._compose(args)), stdin, timeout)

    def shell(self, script: str, *, stdin: bytes | None = None, timeout: float = 120) -> Done:
        return self._run(as_root(script), stdin, timeout)

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int:
        argv = self.client.command(self._script(self._compose(args)))
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        return _pump(process, on_chunk)

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


def _pump(process: subprocess.Popen[bytes], on_chunk: Callable[[bytes], None]) -> int:
    """Hand a process's output on as it comes; Ctrl-C stops it (and it ends cleanly)."""
    assert process.stdout is not None
    try:
        for line in iter(process.stdout.readline, b""):
            on_chunk(line)
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=10)
        return 0


def node_client(
    record: DeploymentRecord,
    ip: str,
    *,
    port: int | None = None,
    identity_file: Path | None = None,
    config_file: str | None = None,
) -> SshClient:
    """An SSH client to one node of a cloud deployment: as its admin user, trusting only the
    deployment's pinned host keys."""
    from hybridctl.remote.ssh import SshSettings, SshTarget

    settings = SshSettings(
        known_hosts=Path(record.known_hosts), identity_file=identity_file, config_file=config_file
    )
    user = str(record.outputs.get("ssh_user") or ADMIN_USER)
    return SshClient(SshTarget(host=ip, user=user, port=port), settings)


def ssh_client_for(record: DeploymentRecord) -> SshClient:
    """An SSH client to a cloud deployment's (first) node, its host key pinned."""
    from hybridctl.deploy.box.topology import node_ips

    ips = node_ips(record.outputs)
    if not ips:
        raise InputError(
            f"deployment {record.name} has no IP address yet (status: {record.status})",
            hint=f"Finish the deploy first: hybridctl deploy --resume {record.name}",
        )
    if not record.known_hosts or not Path(record.known_hosts).is_file():
        raise InputError(
            f"the pinned host key of {record.name} is missing ({record.known_hosts or 'none'})",
            hint="Re-run the deploy to pin it again; hybridctl never trusts an unknown key.",
        )
    return node_client(record, ips[0])


def box_for(record: DeploymentRecord) -> Box:
    """The box that holds a deployment's compose project: Docker here, or SSH."""
    if is_local(record.provider):
        from hybridctl.deploy.compose.compose import check_engine, project_for

        project = project_for(record.name)
        if not project.bundle.is_dir():
            raise InputError(f"deployment {record.name} has no bundle at {project.bundle}")
        check_engine()
        return LocalBox(record.name, project.bundle)
    return RemoteBox(
        ssh_client_for(record),
        directory=BUNDLE_DIR_ON_HOST,
        project=ON_BOX_PROJECT,
        project_directory=True,
    )
