"""The deploy spec, what each provider supports, and the one entry point that builds a stack."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridctl.admin_access import check_admin_cidr, check_ssh_public_key
from hybridctl.errors import InputError

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

if TYPE_CHECKING:  # pulumi is imported lazily: this module is reachable from the CLI
    import pulumi

PROVIDERS: tuple[str, ...] = ("hetzner", "aws", "gcp")

WEB_PORTS: tuple[int, ...] = (80, 443)
"""The only ports open to the internet; 22 is open to the admin CIDR alone."""
SSH_PORT = 22
GATEWAY_HEALTH_PATH = "/health/liveliness"
"""LiteLLM's unauthenticated liveness route, reached through the TLS proxy on 443."""
HEALTH_CHECK_PORT = 443
SHARED_STORE_PORT = 6379
"""Node 0's Redis, open to the deployment's private network only when N > 1 (one cache and one
spend store for every node; see hybridctl.deploy.edge.node_env)."""
PRIVATE_RANGE = "10.42.0.0/24"
"""The private subnet hybridctl creates on Hetzner and GCP; node i gets 10.42.0.(10 + i)."""


def private_ip(index: int) -> str:
    """The fixed private address of node `index` where hybridctl creates the subnet."""
    return f"10.42.0.{10 + index}"


ADMIN_LOGIN = "hybridctl"
"""The admin user the rendered cloud-init creates (hybridctl.render.context.ADMIN_USER)."""


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
    ssh_user: str = ADMIN_LOGIN


@dataclass(frozen=True)
class ProviderSupport:
    """What one provider's program can build, and why it cannot build the rest."""

    provider: str
    default_image: str
    image_login: str
    """The image's own login, which hybridctl's cloud-init does not use (for reference)."""
    gpu: bool
    load_balancer: str
    max_nodes: int
    volume_gb_min: int
    volume_gb_max: int
    user_data_max_bytes: int
    user_data_gzip: bool
    """True where the program gzips user data that is too big (cloud-init unpacks it)."""
    models_device: str
    """Where the models volume appears inside the server (for cloud-init to mount it)."""
    resize: str
    """What changing the instance type (a tier change) does to the running server."""
    unsupported: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    live_metadata: bool = False
    """True where a changed user data reaches the running server in place (GCP's instance
    metadata, changed live by `setMetadata`); Hetzner and AWS would replace or stop the server
    (their stacks ignore user data changes)."""


SUPPORTED: dict[str, ProviderSupport] = {
    "hetzner": ProviderSupport(
        provider="hetzner",
        default_image="ubuntu-24.04",
        image_login="root",
        gpu=False,
        load_balancer="Hetzner Cloud Load Balancer (lb11), TCP 80/443 passthrough, "
        "HTTPS health check on the gateway",
        max_nodes=25,  # lb11 serves at most 25 targets
        volume_gb_min=10,
        volume_gb_max=10240,
        user_data_max_bytes=32 * 1024,
        user_data_gzip=False,
        models_device="/dev/disk/by-id/scsi-0HC_Volume_<volume id>, formatted ext4; "
        "cloud-init mounts it at /var/lib/hybridctl/models",
        resize="in place with downtime: the server is powered off, resized (disk kept, so a "
        "later downgrade stays possible) and started again",
        unsupported={
            "gpu": "Hetzner Cloud has no GPU server types (GPU machines are dedicated servers "
            "outside the Cloud API); choose aws or gcp for a GPU tier",
            "more_than_25_nodes": "the lb11 load balancer takes at most 25 targets",
        },
    ),
    "aws": ProviderSupport(
        provider="aws",
        default_image="ubuntu-24.04 (Canonical AMI, owner 099720109477)",
        image_login="ubuntu",
        gpu=True,
        load_balancer="Network Load Balancer, TCP 80/443 passthrough, "
        "HTTPS health check on the gateway",
        max_nodes=50,
        volume_gb_min=1,
        volume_gb_max=16384,
        user_data_max_bytes=16 * 1024,
        user_data_gzip=True,
        models_device="attached as /dev/sdf: /dev/nvme1n1 on Nitro instance types; unformatted",
        resize="in place with downtime: the instance is stopped, its type changed, and started",
        unsupported={"more_than_50_nodes": "kept below the default per-region instance quota"},
        notes=("uses the region's default VPC and its default subnets, one per zone",),
    ),
    "gcp": ProviderSupport(
        provider="gcp",
        default_image="ubuntu-os-cloud/ubuntu-2404-lts-amd64",
        image_login="ubuntu",
        gpu=True,
        load_balancer="regional external passthrough Network Load Balancer (backend service), "
        "HTTPS health check on the gateway",
        max_nodes=50,
        volume_gb_min=10,
        volume_gb_max=65536,
        user_data_max_bytes=256 * 1024,
        user_data_gzip=False,
        models_device="/dev/disk/by-id/google-models; unformatted",
        resize="in place with downtime: the instance is stopped (allow_stopping_for_update), "
        "its machine type changed, and started",
        unsupported={"more_than_50_nodes": "kept below the default per-region CPU quota"},
        notes=("GPU tiers attach one nvidia-tesla-t4 and stop (not migrate) on maintenance",),
        live_metadata=True,
    ),
}

# Fits every cloud's resource names with our suffixes (GCP: 63); AWS load balancer and target
# group names (32) use `short_name`.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$")


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


def check_spec(spec: DeploySpec) -> None:
    """Refuse a spec the provider's program cannot build or that breaks policy; say why."""
    support = SUPPORTED.get(spec.provider)
    if support is None:
        raise InputError(
            f"unknown provider {spec.provider!r}",
            hint=f"Choose one of: {', '.join(PROVIDERS)}.",
        )
    if not _NAME.match(spec.name):
        raise InputError(
            f"deployment name {spec.name!r} is not usable as a cloud resource name",
            hint="Use 2-42 characters: lower-case letters, digits and '-', starting with a letter.",
        )
    if spec.gpu and not support.gpu:
        raise InputError(
            f"tier {spec.tier_id} needs a GPU, which {spec.provider} cannot provide: "
            f"{support.unsupported['gpu']}",
            hint="Pick a provider with GPU support (aws, gcp) or a CPU tier.",
        )
    if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", spec.ssh_user):
        raise InputError(f"SSH user {spec.ssh_user!r} is not a valid Linux user name")
    if spec.node_count < 1:
        raise InputError(f"--nodes must be at least 1, got {spec.node_count}")
    if spec.node_count > support.max_nodes:
        reason = support.unsupported.get(f"more_than_{support.max_nodes}_nodes", "")
        raise InputError(
            f"{spec.provider} deployments take at most {support.max_nodes} nodes, "
            f"got {spec.node_count}" + (f": {reason}" if reason else ""),
            hint=f"Use --nodes {support.max_nodes} or fewer, or a bigger tier.",
        )
    if not support.volume_gb_min <= spec.volume_gb <= support.volume_gb_max:
        raise InputError(
            f"a {spec.provider} volume must be {support.volume_gb_min}-"
            f"{support.volume_gb_max} GB, got {spec.volume_gb}",
        )
    check_admin_cidr(spec.admin_cidr)
    check_ssh_public_key(spec.ssh_public_key, "the admin SSH public key")
    check_ssh_public_key(spec.host_key_public, "the host public key")
    host_key_fingerprint(spec.host_key_public)
    if spec.host_key_public.split()[1] not in spec.user_data:
        raise InputError(
            "the rendered user data does not contain the pinned SSH host key",
            hint="Render the user data with the same host key that the deploy pins.",
        )
    size = len(user_data_payload(spec))
    if size > support.user_data_max_bytes:
        raise InputError(
            f"the rendered user data is {size} bytes"
            + (" gzipped" if support.user_data_gzip else "")
            + f"; {spec.provider} accepts at most {support.user_data_max_bytes}",
            hint="Render a smaller bundle (fewer services or files) for this provider.",
        )
    for label, value in (("instance type", spec.instance_type), ("region", spec.region)):
        if not value.strip():
            raise InputError(f"the {label} is empty")


def user_data_payload(spec: DeploySpec) -> bytes:
    """The user data bytes as sent to the provider: gzipped where the provider needs it to fit."""
    raw = spec.user_data.encode()
    support = SUPPORTED[spec.provider]
    if support.user_data_gzip and len(raw) > support.user_data_max_bytes:
        # mtime=0 keeps the bytes the same from run to run, so Pulumi sees no spurious change.
        return gzip.compress(raw, mtime=0)
    return raw


def create_stack(spec: DeploySpec, opts: pulumi.ResourceOptions | None = None) -> Any:
    """Check the spec, then build the provider's ComponentResource inside a Pulumi program."""
    check_spec(spec)
    if spec.provider == "hetzner":
        from hybridctl.stacks.hetzner import HetznerStack

        return HetznerStack(spec, opts)
    if spec.provider == "aws":
        from hybridctl.stacks.aws import AwsStack

        return AwsStack(spec, opts)
    from hybridctl.stacks.gcp import GcpStack

    return GcpStack(spec, opts)
