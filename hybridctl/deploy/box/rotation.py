"""Replace the host key that travelled in the user data with one born on the box.

The user data must carry a host private key: it is the only way to know the server's key before
the first connection, so that first connection can be verified. But a cloud keeps user data
readable through its API for the server's life (GCP `compute.instances.get`, AWS
`DescribeInstanceAttribute`, Hetzner's metadata service). So right after the first verified
login, the box generates a fresh ed25519 key that never leaves it; hybridctl reads its public
half over the verified channel, the box swaps it in and reloads sshd, and hybridctl pins the new
key alone. From then on the key in the metadata identifies nothing: whoever reads it cannot
impersonate the server. The box's own copies of the user data lose the private key as well.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hybridctl.deploy.box import hostkeys
from hybridctl.errors import HybridctlError, OperationFailed
from hybridctl.providers.registry import support_of
from hybridctl.remote.ssh import SshClient, as_root
from hybridctl.waiting import poll_until

HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key"
RELOAD_SSHD = "systemctl reload ssh 2>/dev/null || systemctl reload sshd"
CLOUD_DIR = "/var/lib/cloud"
KEY_BLOCK = "/BEGIN OPENSSH PRIVATE KEY/,/END OPENSSH PRIVATE KEY/d"


@dataclass(frozen=True)
class RotationPlan:
    """Where the box keeps its host key, how it reloads sshd, where cloud-init keeps user data."""

    key_path: str = HOST_KEY_PATH
    reload: str = RELOAD_SSHD
    cloud_dir: str = CLOUD_DIR


def generate_script(plan: RotationPlan) -> str:
    key = shlex.quote(plan.key_path + ".new")
    return (
        f"set -eu; rm -f {key} {key}.pub; "
        f"ssh-keygen -q -t ed25519 -N '' -C hybridctl-rotated -f {key} >/dev/null; "
        f"chmod 600 {key}; cat {key}.pub"
    )


def install_script(plan: RotationPlan) -> str:
    """Swap the new key in, reload sshd, and strip the old private key from cloud-init's copies
    (the plain text ones are edited; the pickled datasource cache is deleted, cloud-init
    rebuilds it at the next boot)."""
    key, new = shlex.quote(plan.key_path), shlex.quote(plan.key_path + ".new")
    instance = shlex.quote(plan.cloud_dir.rstrip("/") + "/instance")
    scrub = (
        f"for f in {instance}/user-data.txt {instance}/user-data.txt.i; do "
        '[ -f "$f" ] || continue; '
        f'if gzip -t "$f" 2>/dev/null; then gzip -dc "$f" | sed "{KEY_BLOCK}" > "$f.tmp"; '
        f'else sed "{KEY_BLOCK}" "$f" > "$f.tmp"; fi; chmod 600 "$f.tmp"; mv "$f.tmp" "$f"; done; '
        f"rm -f {instance}/obj.pkl"
    )
    return (
        f"set -eu; [ -s {new} ] && [ -s {new}.pub ]; "
        f"mv {new} {key}; mv {new}.pub {key}.pub; {scrub}; {plan.reload}"
    )


def check_public(text: str) -> str:
    """The first line the box printed, if it is an ed25519 public key."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    parts = line.split()
    if len(parts) < 2 or parts[0] != hostkeys.KEY_TYPE:
        raise OperationFailed(
            f"the box did not print a new ed25519 host key (got {line[:60]!r})",
            hint="Check that ssh-keygen is installed on the box.",
        )
    return f"{parts[0]} {parts[1]}"


def rotate_host_key(
    client: SshClient,
    hosts: list[str],
    *,
    say: Callable[[str], None],
    plan: RotationPlan | None = None,
    settle_s: float = 20,
) -> str:
    """Rotate the box's host key over the connection pinned in client's known_hosts, and prove
    the box presents the new key (a fresh login that pins it alone). Returns the new public key;
    the caller pins it for good.
    """
    plan = plan or RotationPlan()
    new_public = check_public(
        client.check(as_root(generate_script(plan)), what="generating a new host key")
    )
    client.check(as_root(install_script(plan)), what="installing the new host key")
    with tempfile.TemporaryDirectory(prefix="hybridctl-rotate-") as tmp:
        pinned = Path(tmp) / "known_hosts"
        pinned.write_text(hostkeys.known_hosts_line(hosts, new_public))
        fresh = SshClient(client.target, replace(client.settings, known_hosts=pinned))

        def login() -> HybridctlError | None:
            try:
                fresh.check("true", what="the login with the new host key", timeout_s=60)
            except HybridctlError as exc:
                return exc
            return None

        # sshd re-executes itself on reload; give it a moment to listen again
        failure = poll_until(login, done=lambda exc: exc is None, timeout_s=settle_s, interval_s=1)
        if failure is not None:
            raise OperationFailed(
                f"the box did not present its new host key "
                f"{hostkeys.fingerprint(new_public)}: {failure.message}",
                hint="Log in with the deployment's SSH command and check "
                f"{plan.key_path}.pub and sshd; then run the deploy again.",
            )
    say(
        f"host key rotated on {client.target}: {hostkeys.fingerprint(new_public)}; the key in "
        "the user data no longer identifies the box"
    )
    return new_public


PRIVATE_KEY_LINE = "  ed25519_private: |"


def without_private_key(user_data: str) -> str:
    """The cloud-init user data with the host private key's block taken out (the public key
    stays, so the stacks' pin check still holds). cloud-init runs its ssh module once per
    instance, so the running server never reads it again."""
    out: list[str] = []
    skipping = False
    for line in user_data.splitlines(keepends=True):
        if line.rstrip("\n") == PRIVATE_KEY_LINE:
            skipping = True
            out.append("  # ed25519_private: removed by hybridctl once the box had its own key\n")
            continue
        if skipping and line.startswith("    "):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def scrub_metadata_spec(spec: Any, rotated_nodes: int) -> Any:
    """The spec to apply: on a cloud that changes user data live (GCP) whose every node has
    rotated its key, the user data without the private key; otherwise the spec as it is (on
    Hetzner and AWS the rotation alone defuses the key)."""
    support = support_of(spec.provider)  # live_metadata: the cloud changes user data live
    if support is None or not support.live_metadata or rotated_nodes < spec.node_count:
        return spec
    return replace(spec, user_data=without_private_key(spec.user_data))
