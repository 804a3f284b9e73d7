"""The top-level Pulumi projects (stacks/<cloud>): stack config to DeploySpec to the component."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import HybridctlError, InputError
from hybridctl.providers.spec import OUTPUT_NAMES, DeploySpec

Getter = Callable[[str], str | None]
MAX_NODES = 100  # each provider's own limit (check_spec) is lower; this only bounds the input


@dataclass(frozen=True)
class ProjectConfig:
    """The stack's settings, as `pulumi config set KEY VALUE` gives them (see stacks/README.md)."""

    tier: str
    admin_cidr: str
    ssh_public_key: str
    host_key_file: Path
    name: str
    nodes: int = 1
    region: str | None = None
    instance_type: str | None = None
    catalog: Path | None = None

    @classmethod
    def read(cls, get: Getter, stack: str) -> ProjectConfig:
        def required(key: str) -> str:
            value = (get(key) or "").strip()
            if not value:
                raise InputError(
                    f"stack config {key!r} is not set", hint=f"pulumi config set {key} VALUE"
                )
            return value

        nodes_text = get("nodes") or "1"
        if not nodes_text.isdigit() or not 1 <= int(nodes_text) <= MAX_NODES:
            raise InputError(f"stack config 'nodes' must be 1-{MAX_NODES}, got {nodes_text!r}")
        catalog = get("catalog")
        return cls(
            tier=required("tier"),
            admin_cidr=required("adminCidr"),
            ssh_public_key=required("sshPublicKey"),
            host_key_file=Path(required("hostKeyFile")).expanduser(),
            name=get("name") or f"hybridctl-{stack}",
            nodes=int(nodes_text),
            region=get("region"),
            instance_type=get("instanceType"),
            catalog=Path(catalog).expanduser() if catalog else None,
        )


def _host_key(path: Path) -> tuple[str, str]:
    """The pinned host key pair: the private file and its .pub beside it (ssh-keygen's layout)."""
    try:
        return path.read_text(), path.with_name(path.name + ".pub").read_text().strip()
    except OSError as exc:
        raise InputError(
            f"cannot read the host key {exc.filename}: {exc.strerror}",
            hint="Make one: ssh-keygen -t ed25519 -N '' -f host_key; pulumi config set "
            "hostKeyFile ./host_key",
        ) from None


def build_spec(provider: str, config: ProjectConfig) -> DeploySpec:
    """The spec `hybridctl deploy` would build for the same tier, offer and keys.

    As with `deploy`, the user data carries neither the bundle nor the .env (the provider keeps
    user data readable for the server's life, and AWS takes 16 KB): the box starts the stack
    once both are copied to it over SSH (stacks/README.md shows how).
    """
    import math

    from hybridctl.catalog import find_tier, load_catalog
    from hybridctl.deploy.pulumi.spec import MIN_BOOT_DISK_GB, volume_size_gb
    from hybridctl.render.cloud_init import SshHostKey
    from hybridctl.render.user_data import render_user_data

    catalog = load_catalog(config.catalog)
    tier = find_tier(catalog, config.tier)
    offer = tier.offer_for(provider)
    host_private, host_public = _host_key(config.host_key_file)
    user_data = render_user_data(
        catalog,
        tier.id,
        provider,
        admin_ssh_public_key=config.ssh_public_key,
        admin_cidr=config.admin_cidr,
        ssh_host_key=SshHostKey(private_openssh=host_private, public_openssh=host_public),
        with_bundle=False,
    )
    return DeploySpec(
        name=config.name,
        provider=provider,
        tier_id=tier.id,
        instance_type=config.instance_type or offer.instance_type,
        region=config.region or offer.region,
        ssh_public_key=config.ssh_public_key,
        admin_cidr=config.admin_cidr,
        user_data=user_data,
        host_key_public=host_public,
        volume_gb=volume_size_gb(catalog, tier, provider),
        disk_gb=max(MIN_BOOT_DISK_GB, math.ceil(tier.disk_gb)),
        node_count=config.nodes,
        gpu=tier.gpu is not None,
    )


def run(provider: str) -> Any:
    """The program of stacks/<provider>: read the stack's config, build the stack, export."""
    import pulumi

    from hybridctl.providers.registry import create_stack

    try:
        config = ProjectConfig.read(pulumi.Config().get, pulumi.get_stack())
        stack = create_stack(build_spec(provider, config))
    except HybridctlError as exc:  # a clean message in `pulumi up`, not a traceback
        raise pulumi.RunError(str(exc)) from None
    for name in OUTPUT_NAMES:
        value = getattr(stack, name, None)
        if value is not None:
            pulumi.export(name, value)
    return stack
