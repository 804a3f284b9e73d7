"""A real OpenSSH server on a loopback port, with a throwaway host key and user key, for tests."""

from __future__ import annotations

import contextlib
import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from hybridctl.remote.ssh import SshClient

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, comment: str) -> str:
    """Write an ed25519 key pair at path; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def known_hosts_entry(port: int, public_key: str) -> str:
    key_type, key_data = public_key.split()[:2]
    return f"[127.0.0.1]:{port} {key_type} {key_data}\n"


@dataclass
class SshServer:
    """A running sshd: where it listens, who may log in, and the keys to check and use."""

    process: subprocess.Popen[bytes]
    port: int
    user: str
    host_public_key: str
    identity_file: Path
    known_hosts: Path  # pins the real host key
    wrong_known_hosts: Path  # pins some other key for the same host and port
    log: Path

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def client(self, known_hosts: Path) -> SshClient:
        """hybridctl's SSH client for this server, trusting the host keys in `known_hosts`."""
        from hybridctl.remote.ssh import SshClient, SshSettings, SshTarget

        settings = SshSettings(
            known_hosts=known_hosts,
            identity_file=self.identity_file,
            config_file="none",
            connect_timeout_s=10,
        )
        return SshClient(SshTarget.parse(self.target), settings)

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes below the listener (one tree per open session)."""
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]


def missing_reason() -> str | None:
    """Why the SSH tests cannot run here, or None when they can."""
    for tool in (SSHD, "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"{tool} is not installed (apt-get install openssh-server openssh-client)"
    try:
        PRIVSEP_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"sshd needs its privilege separation directory {PRIVSEP_DIR}: {exc}"
    return None


def start_sshd(root: Path) -> SshServer:
    """Start `sshd -D -e` on 127.0.0.1:<free port> and wait until it accepts connections."""
    root.mkdir(parents=True, exist_ok=True)
    PRIVSEP_DIR.mkdir(parents=True, exist_ok=True)
    host_key = root / "ssh_host_ed25519_key"
    host_public = keygen(host_key, "test-host")
    host_key.chmod(0o600)
    user_key = root / "id_ed25519"
    user_public = keygen(user_key, "test-user")
    authorized = root / "authorized_keys"
    authorized.write_text(user_public + "\n")
    other_public = keygen(root / "other_host_key", "impostor")

    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "StrictModes no",
                "UsePAM no",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    known_hosts = root / "known_hosts"
    known_hosts.write_text(known_hosts_entry(port, host_public))
    wrong = root / "wrong_known_hosts"
    wrong.write_text(known_hosts_entry(port, other_public))

    log = root / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"sshd did not start listening: {log.read_text()}")
    return SshServer(
        process=process,
        port=port,
        user=getpass.getuser(),
        host_public_key=host_public,
        identity_file=user_key,
        known_hosts=known_hosts,
        wrong_known_hosts=wrong,
        log=log,
    )


def stop_sshd(server: SshServer) -> None:
    """Stop the listener and any session processes it left."""
    import psutil

    try:
        children = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real sshd on loopback for the module's tests; skipped only when OpenSSH is missing."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_sshd(server)


def silent_listener() -> tuple[socket.socket, int]:
    """A TCP listener that accepts connections and never speaks (an SSH connect that hangs)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, int(sock.getsockname()[1])


__all__ = ["SshServer", "free_port", "silent_listener", "sshd", "start_sshd", "stop_sshd"]
