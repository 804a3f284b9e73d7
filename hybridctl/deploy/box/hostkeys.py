"""SSH host keys generated before the server exists, and the known_hosts file that pins them."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hybridctl.errors import OperationFailed, UsageError
from hybridctl.providers.spec import host_key_fingerprint

KEY_TYPE = "ssh-ed25519"


def generate_host_key(comment: str) -> tuple[str, str]:
    """A fresh ed25519 host key pair as (private OpenSSH PEM, public key line).

    ssh-keygen writes the pair into a private temporary directory; both files are read back
    and deleted at once, so the private key lives on only in memory (and, later, in the
    encrypted Pulumi stack config and the server's user data).
    """
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise UsageError(
            "ssh-keygen is not installed; it is needed to create the server's SSH host key",
            hint="Install OpenSSH's client tools (Debian/Ubuntu: apt-get install openssh-client; "
            "macOS ships them).",
        )
    with tempfile.TemporaryDirectory(prefix="hybridctl-hostkey-") as tmp:
        key_path = Path(tmp) / "host_key"
        result = subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise OperationFailed(
                f"ssh-keygen could not create a host key: {result.stderr.strip()}",
                hint="Check that ssh-keygen works: ssh-keygen -t ed25519 -f /tmp/test_key",
            )
        private = key_path.read_text()
        public = key_path.with_suffix(".pub").read_text().strip()
    return private, public


def known_hosts_line(hosts: list[str], public_openssh: str) -> str:
    """One known_hosts entry: comma-separated host names, key type and key (no comment)."""
    key_type, key_data = public_openssh.split()[:2]
    return f"{','.join(hosts)} {key_type} {key_data}\n"


def host_alias(name: str) -> str:
    """The HostKeyAlias a deployment's key is pinned under before its IP is known."""
    return f"hybridctl-{name}"


def write_known_hosts(path: Path, name: str, public_openssh: str, ips: list[str]) -> Path:
    """Pin the host key for the deployment's alias and every IP it has (replaces the file)."""
    hosts = [host_alias(name), *dict.fromkeys(ip for ip in ips if ip)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(known_hosts_line(hosts, public_openssh))
    path.chmod(0o644)
    return path


def write_pinned_hosts(
    path: Path, name: str, public_openssh: str, ips: list[str], rotated: dict[str, str]
) -> Path:
    """Pin each node's rotated key for its IP alone, and the user data's key for the rest
    (the deployment's alias and nodes that have not rotated yet)."""
    fresh = [ip for ip in dict.fromkeys(ips) if ip and ip not in rotated]
    lines = [known_hosts_line([host_alias(name), *fresh], public_openssh)]
    lines += [known_hosts_line([ip], key) for ip, key in sorted(rotated.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    path.chmod(0o644)
    return path


def read_pinned_key(path: Path) -> str | None:
    """The pinned public key ('ssh-ed25519 AAAA...') of a known_hosts file we wrote, or None."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            return f"{parts[1]} {parts[2]}"
    return None


def fingerprint(public_openssh: str) -> str:
    """The SHA256 fingerprint `ssh-keygen -l` prints for this key."""
    return host_key_fingerprint(public_openssh)


def ssh_options(known_hosts: Path) -> list[str]:
    """OpenSSH options for every connection to a deployment: its pinned key, and nothing else."""
    return [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
    ]
