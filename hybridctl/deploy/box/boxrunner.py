"""Box runners: `docker compose` (and a shell) on a deployment's box, here or over SSH."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.errors import InputError, OperationFailed
from hybridctl.providers.registry import is_local

ON_BOX_PROJECT = "hybridctl"  # the rendered compose file's `name:`


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


class BoxRunner(Protocol):
    """Runs commands on the box that holds a deployment's compose project."""

    where: str
    directory: str  # the bundle's folder on the box (docker-compose.yml, .env)

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Done: ...

    def shell(self, script: str, *, stdin: bytes | None = None, timeout: float = 120) -> Done: ...

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int: ...


def _compose_words(project: str, directory: str) -> list[str]:
    from hybridctl.deploy.compose.compose import compose_command

    return [*compose_command(), "--project-name", project, "--project-directory", directory]


class LocalRunner:
    """A box under Docker Compose on this machine (`deploy --provider local`)."""

    def __init__(self, project: str, bundle: Path) -> None:
        self.project = project
        self.bundle = bundle
        self.directory = str(bundle)
        self.where = "this machine"

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
            raise OperationFailed(
                f"{' '.join(argv[:3])} ... did not finish within {timeout:.0f} s"
            ) from None
        return Done(done.returncode, done.stdout, done.stderr)

    def compose(self, *args: str, stdin: bytes | None = None, timeout: float = 300) -> Done:
        return self._run([*_compose_words(self.project, str(self.bundle)), *args], stdin, timeout)

    def shell(self, script: str, *, stdin: bytes | None = None, timeout: float = 120) -> Done:
        return self._run(["/bin/sh", "-c", script], stdin, timeout)

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int:
        argv = [*_compose_words(self.project, str(self.bundle)), *args]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        return _pump(process, on_chunk)


class SshRunner:
    """A cloud box over SSH (pinned host key), as root, in the bundle's directory."""

    def __init__(self, client: object, *, project: str, directory: str) -> None:
        from hybridctl.remote.ssh import SshClient

        assert isinstance(client, SshClient)
        self.client = client
        self.project = project
        self.directory = directory
        self.where = str(client.target)

    def _script(self, words: list[str]) -> str:
        from hybridctl.remote.ssh import as_root

        quoted = " ".join(shlex.quote(w) for w in words)
        return as_root(f"cd {shlex.quote(self.directory)} && {quoted}")

    def _compose(self, args: tuple[str, ...]) -> list[str]:
        return [
            "docker",
            "compose",
            "--project-name",
            self.project,
            "--project-directory",
            self.directory,
            *args,
        ]

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
        from hybridctl.remote.ssh import as_root

        return self._run(as_root(script), stdin, timeout)

    def follow(self, *args: str, on_chunk: Callable[[bytes], None]) -> int:
        argv = self.client.command(self._script(self._compose(args)))
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        return _pump(process, on_chunk)


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


def ssh_client_for(record: DeploymentRecord) -> object:
    """An SSH client to a cloud deployment's (first) node, its host key pinned."""
    from hybridctl.deploy.box.topology import node_ips
    from hybridctl.remote.ssh import SshClient, SshSettings, SshTarget
    from hybridctl.render.context import ADMIN_USER

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
    settings = SshSettings(known_hosts=Path(record.known_hosts))
    user = str(record.outputs.get("ssh_user") or ADMIN_USER)
    return SshClient(SshTarget(host=ips[0], user=user), settings)


def runner_for(record: DeploymentRecord) -> BoxRunner:
    """The runner that reaches a deployment's compose project: Docker here, or SSH."""
    if is_local(record.provider):
        from hybridctl.deploy.compose.compose import project_for

        project = project_for(record.name)
        if not project.bundle.is_dir():
            raise InputError(f"deployment {record.name} has no bundle at {project.bundle}")
        from hybridctl.deploy.compose.compose import check_engine

        check_engine()
        return LocalRunner(record.name, project.bundle)
    from hybridctl.render.context import BUNDLE_DIR_ON_HOST

    return SshRunner(ssh_client_for(record), project=ON_BOX_PROJECT, directory=BUNDLE_DIR_ON_HOST)
