"""SSH transport: the system's OpenSSH client, strict host keys, and its failures made clear.

Uses the system's OpenSSH client through subprocess with argument lists (no local shell). The
remote side always gets a command string (that is how SSH works); every variable part of it is
quoted with shlex.quote. Host keys are checked strictly against one known_hosts file; a new key
is accepted only when the caller asks for it explicitly.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hybridctl.errors import HybridctlError, InputError, OperationFailed
from hybridctl.paths import state_dir

SSH_EXIT_ERROR = 255
DEFAULT_CONNECT_TIMEOUT_S = 15
DEFAULT_SERVER_ALIVE_INTERVAL_S = 10
DEFAULT_SERVER_ALIVE_COUNT_MAX = 3
DEFAULT_RUN_TIMEOUT_S = 4 * 3600
DEFAULT_REMOTE_PYTHON = "python3"
REMOTE_VENV = ".local/share/hybridctl-bench/venv"  # relative to the remote user's home
DEPS_CHECK = "import llama_cpp, psutil"
DEPS_INSTALL_HINT = "pip install llama-cpp-python psutil"
_STDERR_TAIL_LINES = 40

Progress = Callable[[str], None]


def ignore_progress(_line: str) -> None:
    return None


@dataclass(frozen=True)
class SshTarget:
    """Who to log in as, where: user@host[:port] (IPv6 as user@[addr]:port)."""

    host: str
    user: str | None = None
    port: int | None = None  # None: ssh's default or the user's ssh config decides

    @classmethod
    def parse(cls, spec: str) -> SshTarget:
        match = re.fullmatch(
            r"(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?"
            r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
            r"(?::(?P<port>\d{1,5}))?",
            spec.strip(),
        )
        if not match or (match.group("host") or "").startswith("-"):
            raise InputError(
                f"--host {spec!r} is not a valid SSH target",
                hint="Write it as user@host, user@host:port or user@[ipv6]:port "
                "(e.g. --host root@203.0.113.7).",
            )
        port = int(match.group("port")) if match.group("port") else None
        if port is not None and not 1 <= port <= 65535:
            raise InputError(f"port {port} in --host {spec!r} is out of range 1-65535")
        host = match.group("v6") or match.group("host")
        return cls(host=host, user=match.group("user"), port=port)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        where = f"{host}:{self.port}" if self.port else host
        return f"{self.user}@{where}" if self.user else where


@dataclass(frozen=True)
class SshSettings:
    """How to connect: the one known_hosts file that decides, keys, and time limits."""

    known_hosts: Path
    accept_new_host_key: bool = False
    identity_file: Path | None = None
    host_key_alias: str | None = None
    config_file: str | None = None  # ssh -F; None reads the user's ~/.ssh/config as usual
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S
    server_alive_interval_s: int = DEFAULT_SERVER_ALIVE_INTERVAL_S
    server_alive_count_max: int = DEFAULT_SERVER_ALIVE_COUNT_MAX


def default_known_hosts() -> Path:
    """hybridctl's own known_hosts for hosts given with --host (never ~/.ssh/known_hosts)."""
    return state_dir() / "known_hosts"


def resolve_known_hosts(
    explicit: Path | None, deployment_file: Path | None, accept_new: bool
) -> Path:
    """The known_hosts file to check against; missing is an error unless accepting new keys."""
    path = explicit or deployment_file or default_known_hosts()
    if path.exists():
        return path
    if explicit is not None and not accept_new:
        raise InputError(
            f"known_hosts file {path} does not exist",
            hint="Give an existing file with --known-hosts, or pass --accept-new-host-key to pin "
            "the key the host presents on first contact.",
        )
    if deployment_file is not None and not accept_new:
        raise InputError(
            f"the deployment's known_hosts file {path} is missing, so its host key cannot be "
            "checked",
            hint="Re-run `hybridctl deploy` for this deployment to pin its key again, or give one "
            "with --known-hosts.",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o644)
    return path


class SshClient:
    """Runs commands on one host with the system ssh client and strict host key checking."""

    def __init__(self, target: SshTarget, settings: SshSettings) -> None:
        binary = shutil.which("ssh")
        if binary is None:
            raise OperationFailed(
                "the OpenSSH client (ssh) is not installed",
                hint="Install it (Debian/Ubuntu: apt-get install openssh-client).",
            )
        self.ssh = binary
        self.target = target
        self.settings = settings

    def command(self, remote_command: str) -> list[str]:
        """The full ssh argument list for one remote command."""
        s = self.settings
        checking = "accept-new" if s.accept_new_host_key else "yes"
        args = [self.ssh]
        if s.config_file:
            args += ["-F", s.config_file]
        options = {
            "BatchMode": "yes",
            "StrictHostKeyChecking": checking,
            "UserKnownHostsFile": str(s.known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "HashKnownHosts": "no",
            "UpdateHostKeys": "no",
            "ConnectTimeout": str(s.connect_timeout_s),
            "ServerAliveInterval": str(s.server_alive_interval_s),
            "ServerAliveCountMax": str(s.server_alive_count_max),
        }
        if s.host_key_alias:
            options["HostKeyAlias"] = s.host_key_alias
        if s.identity_file:
            options["IdentitiesOnly"] = "yes"
            args += ["-i", str(s.identity_file)]
        for key, value in options.items():
            args += ["-o", f"{key}={value}"]
        if self.target.port:
            args += ["-p", str(self.target.port)]
        args += ["-T", "--", self.target.destination, remote_command]
        return args

    def run(
        self, remote_command: str, *, stdin_path: Path | None = None, timeout_s: float = 300
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command and capture its output; SSH failures raise, the command's exit is kept."""
        stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
        try:
            completed = subprocess.run(
                self.command(remote_command),
                stdin=stdin,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise OperationFailed(
                f"SSH command on {self.target} did not finish within {timeout_s:g} s",
                hint="Check the box is up and not overloaded; raise the limit if it is just slow.",
            ) from exc
        finally:
            if stdin_path:
                stdin.close()  # type: ignore[union-attr]
        if completed.returncode == SSH_EXIT_ERROR:
            raise ssh_failure(completed.stderr.decode("utf-8", "replace"), self)
        return completed

    def check(self, remote_command: str, *, what: str, timeout_s: float = 300) -> str:
        """Run a command that must succeed; return its stdout."""
        completed = self.run(remote_command, timeout_s=timeout_s)
        if completed.returncode != 0:
            raise OperationFailed(
                f"{what} failed on {self.target} (exit {completed.returncode}): "
                f"{tail_lines(completed.stderr.decode('utf-8', 'replace'))}",
                hint="Run the same step by hand over ssh to see the whole error.",
            )
        return completed.stdout.decode("utf-8", "replace")

    def upload(self, local: Path, remote_path: str) -> None:
        """Copy one file to the box through ssh's stdin (no scp/sftp subsystem needed)."""
        remote = f"umask 077 && cat > {shlex.quote(remote_path)}"
        timeout = 300 + local.stat().st_size / 1_000_000  # generous: >= 1 MB/s
        completed = self.run(remote, stdin_path=local, timeout_s=timeout)
        if completed.returncode != 0:
            raise OperationFailed(
                f"copying {local.name} to {self.target}:{remote_path} failed: "
                f"{tail_lines(completed.stderr.decode('utf-8', 'replace'))}",
                hint="Check free disk space in the box's temporary directory.",
            )

    def stream(
        self,
        remote_command: str,
        on_line: Progress,
        timeout_s: float,
        *,
        stdin_data: bytes | None = None,
    ) -> tuple[int, str, str]:
        """Run a long command, handing each stderr line to on_line as it arrives.

        Returns (exit code, stdout, last stderr lines). Exit 255 is returned, not raised, so
        the caller can keep what the command left behind when the connection drops.
        """
        process = subprocess.Popen(
            self.command(remote_command),
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if stdin_data is not None:
            assert process.stdin is not None
            try:
                process.stdin.write(stdin_data)
                process.stdin.close()
            except OSError:
                pass  # the connection failed already; its exit code says how
        tail: list[str] = []
        stdout_chunks: list[bytes] = []

        def pump_stderr() -> None:
            assert process.stderr is not None
            for raw in iter(process.stderr.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(line)
                del tail[:-_STDERR_TAIL_LINES]
                on_line(line)

        def pump_stdout() -> None:
            assert process.stdout is not None
            stdout_chunks.append(process.stdout.read())

        readers = [threading.Thread(target=pump_stderr), threading.Thread(target=pump_stdout)]
        for reader in readers:
            reader.daemon = True
            reader.start()
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        for reader in readers:
            reader.join(timeout=5)
        stdout = b"".join(stdout_chunks).decode("utf-8", "replace")
        if code is None:
            tail.append(f"hybridctl: stopped waiting after {timeout_s:g} s")
            return SSH_EXIT_ERROR, stdout, "\n".join(tail)
        return code, stdout, "\n".join(tail)


def tail_lines(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def ssh_failure(stderr: str, client: SshClient) -> HybridctlError:
    """Turn ssh's exit 255 and its stderr into an error that says what happened and what to do."""
    target, known_hosts = client.target, client.settings.known_hosts
    text = stderr.strip()
    lower = text.lower()
    detail = tail_lines(text)
    if "remote host identification has changed" in lower or (
        "host key for" in lower and "has changed" in lower
    ):
        presented = re.search(r"SHA256:[A-Za-z0-9+/=]+", text)
        seen = f" (it presented {presented.group(0)})" if presented else ""
        return OperationFailed(
            f"the host key of {target} does not match the one pinned in {known_hosts}{seen}: "
            "refusing to connect (this is what a man-in-the-middle looks like; it is also what "
            "a rebuilt server looks like)",
            hint="Compare the server's fingerprint (on its console: ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub) with the pinned one "
            f"(ssh-keygen -lf {known_hosts}); only if you know the server was rebuilt, remove "
            f"the old key with ssh-keygen -R '{_known_hosts_name(target)}' -f {known_hosts}.",
        )
    if (
        "host key verification failed" in lower
        or "no ed25519 host key is known" in lower
        or ("host key is known for" in lower)
    ):
        return InputError(
            f"the host key of {target} is not in {known_hosts}, so it cannot be verified: "
            "refusing to connect",
            hint="Use the deployment's known_hosts (--deployment NAME or --known-hosts FILE), or, "
            "if you have checked the server's fingerprint, pass --accept-new-host-key to pin the "
            "key it presents now.",
        )
    if "permission denied" in lower or "too many authentication failures" in lower:
        return OperationFailed(
            f"SSH login to {target} was refused: {detail}",
            hint="Check the user name and that your key is in the server's authorized_keys "
            "(hybridctl deploy installs the key you gave it; load it with ssh-add or pass "
            "--identity FILE).",
        )
    if "could not resolve hostname" in lower or "name or service not known" in lower:
        return InputError(
            f"cannot resolve host {target.host}: {detail}",
            hint="Check the host name or IP address in --host.",
        )
    if "connection refused" in lower:
        return OperationFailed(
            f"{target} refused the SSH connection (nothing listens on port {target.port or 22})",
            hint="Check the server is up, sshd is running and the port is right; a fresh server "
            "may still be booting.",
        )
    if "timed out" in lower or "not responding" in lower:
        return OperationFailed(
            f"SSH connection to {target} timed out: {detail}",
            hint="Check the address, that the firewall admits your IP (admin CIDR) on port "
            f"{target.port or 22}, and that the server is running.",
        )
    return OperationFailed(
        f"SSH connection to {target} failed: {detail}",
        hint="Run `ssh -v` against the same host to see the details.",
    )


def _known_hosts_name(target: SshTarget) -> str:
    if target.port in (None, 22):
        return target.host
    return f"[{target.host}]:{target.port}"


def as_root(script: str) -> str:
    """A remote command that runs `script` as root: directly, or through sudo without a
    password (the admin user cloud-init creates has NOPASSWD)."""
    quoted = shlex.quote(script)
    return f'if [ "$(id -u)" = 0 ]; then sh -c {quoted}; else sudo -n sh -c {quoted}; fi'
