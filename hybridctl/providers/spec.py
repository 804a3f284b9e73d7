"""The deploy spec every cloud program reads, and the network facts all of them share."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from hybridctl.errors import InputError
from hybridctl.stackfacts import ADMIN_USER

# Every output a stack may set (the last two only behind a load balancer / with a private net).
OUTPUT_NAMES = (
    "ip",
    "ips",
    "ssh_user",
    "host_key_fingerprint",
    "gateway_url",
    "load_balancer_ip",
    "private_ips",
)

WEB_PORTS: tuple[int, ...] = (80, 443)
"""The only ports open to the internet; 22 is open to the admin CIDR alone."""
SSH_PORT = 22
HEALTH_CHECK_PORT = 443
SHARED_STORE_PORT = 6379
"""Node 0's Redis, open to the deployment's private network only when N > 1 (one cache and one
spend store for every node; see hybridctl.deploy.box.topology.node_env)."""
PRIVATE_RANGE = "10.42.0.0/24"
"""The private subnet hybridctl creates on Hetzner and GCP; node i gets 10.42.0.(10 + i)."""


def private_ip(index: int) -> str:
    """The fixed private address of node `index` where hybridctl creates the subnet."""
    return f"10.42.0.{10 + index}"


@dataclass(frozen=True)
class DeploySpec:
    """Everything a provider program needs; programs read nothing else (no env, no config).

    `user_data` is secret (it carries the server's SSH host private key); programs pass it to the
    cloud as a Pulumi secret. `host_key_public` is the matching OpenSSH public key, pinned by
    clients through the `host_key_fingerprint` output. `ssh_user` is the login the rendered
    cloud-init creates (root login is disabled there and the image's own user is not created).
    """

    name: str
    provider: str
    tier_id: str
    instance_type: str
    region: str
    ssh_public_key: str
    admin_cidr: str
    user_data: str = field(repr=False)
    host_key_public: str
    volume_gb: int
    node_count: int = 1
    disk_gb: int = 30  # the boot disk, where the provider sizes it (the tier's disk_gb)
    image: str | None = None
    gpu: bool = False
    ssh_user: str = ADMIN_USER


def short_name(name: str, limit: int) -> str:
    """`name` if it fits in `limit` characters, else a prefix and a hash that stay unique."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def default_ssh_user(spec: DeploySpec) -> str:
    """The login the outputs report: the admin user that the spec's cloud-init creates."""
    return spec.ssh_user


def host_key_fingerprint(public_openssh: str) -> str:
    """OpenSSH's SHA256 fingerprint (`ssh-keygen -lf` style) of an OpenSSH public key line."""
    parts = public_openssh.strip().split()
    if len(parts) < 2:
        raise InputError(
            "the SSH host public key is not an OpenSSH public key line",
            hint="Expected 'ssh-ed25519 AAAA... [comment]'.",
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(
            "the SSH host public key is not valid base64",
            hint="Expected 'ssh-ed25519 AAAA... [comment]'.",
        ) from exc
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
