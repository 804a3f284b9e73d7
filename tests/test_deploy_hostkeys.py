"""Host keys made before the server exists, pinned in known_hosts and checked by a real sshd."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from hybridctl.deploy.box import hostkeys

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


def test_generated_pair_matches_and_leaves_no_file_behind(tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("hybridctl-hostkey-*"))
    private, public = hostkeys.generate_host_key("hybridctl-test")
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith("ssh-ed25519 ") and public.endswith("hybridctl-test")
    assert set(Path(tempfile.gettempdir()).glob("hybridctl-hostkey-*")) == before

    key_file = tmp_path / "key"
    key_file.write_text(private)
    key_file.chmod(0o600)
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True
    ).stdout
    assert derived.split()[:2] == public.split()[:2]


def test_two_keys_differ() -> None:
    assert (
        hostkeys.generate_host_key("a")[1].split()[1]
        != hostkeys.generate_host_key("a")[1].split()[1]
    )


def test_known_hosts_is_read_by_ssh_keygen(tmp_path: Path) -> None:
    _, public = hostkeys.generate_host_key("hybridctl-web")
    path = hostkeys.write_known_hosts(
        tmp_path / "known_hosts", "web", public, ["198.51.100.7", "198.51.100.8"]
    )
    listing = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert hostkeys.fingerprint(public) in listing
    assert "(ED25519)" in listing
    for host in ("hybridctl-web", "198.51.100.7", "198.51.100.8"):
        found = subprocess.run(
            ["ssh-keygen", "-F", host, "-f", str(path)], capture_output=True, text=True
        )
        assert found.returncode == 0, host
    missing = subprocess.run(
        ["ssh-keygen", "-F", "198.51.100.9", "-f", str(path)], capture_output=True, text=True
    )
    assert missing.returncode != 0
    assert hostkeys.read_pinned_key(path) == " ".join(public.split()[:2])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sshd_with_pinned_key(tmp_path: Path):
    """A real OpenSSH server on loopback whose host key hybridctl generated (cloud-init's job)."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists() or os.geteuid() != 0:
        pytest.skip("needs openssh-server and root")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    private, public = hostkeys.generate_host_key("hybridctl-e2e")
    host_key = tmp_path / "ssh_host_ed25519_key"
    host_key.write_text(private)
    host_key.chmod(0o600)
    user_key = tmp_path / "user_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(user_key)], check=True)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(user_key.with_suffix(".pub").read_text())
    port = _free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {tmp_path}/sshd.pid\n"
        f"AuthorizedKeysFile {authorized}\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
    )
    process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(
                    f"sshd exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.1)
    yield public, port, user_key
    process.terminate()
    process.wait(timeout=10)


def _ssh(known_hosts: Path, port: int, user_key: Path, alias: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ssh",
            *hostkeys.ssh_options(known_hosts),
            "-o",
            f"HostKeyAlias={alias}",
            "-o",
            "BatchMode=yes",
            "-i",
            str(user_key),
            "-p",
            str(port),
            f"{getpass.getuser()}@127.0.0.1",
            "echo pinned-ok",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_ssh_connects_with_the_pinned_key_and_refuses_another(
    sshd_with_pinned_key, tmp_path: Path
) -> None:
    public, port, user_key = sshd_with_pinned_key
    good = hostkeys.write_known_hosts(tmp_path / "good_known_hosts", "e2e", public, [])
    result = _ssh(good, port, user_key, hostkeys.host_alias("e2e"))
    assert result.returncode == 0, result.stderr
    assert "pinned-ok" in result.stdout

    _, other = hostkeys.generate_host_key("impostor")
    bad = hostkeys.write_known_hosts(tmp_path / "bad_known_hosts", "e2e", other, [])
    refused = _ssh(bad, port, user_key, hostkeys.host_alias("e2e"))
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    unknown = _ssh(empty, port, user_key, hostkeys.host_alias("e2e"))
    assert unknown.returncode != 0  # no trust on first use: an unknown key is refused
