"""Resolve a deploy request against the catalog and an existing deployment into a DeploySpec."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.catalog.deployments import DeploymentRecord, check_name
from hybridctl.catalog.schema import Catalog, Offer, Tier
from hybridctl.errors import InputError, UsageError
from hybridctl.providers.admin_access import check_admin_cidr, check_ssh_public_key
from hybridctl.providers.registry import get_cloud
from hybridctl.providers.spec import DeploySpec

PLACEHOLDER_ADMIN_CIDR = "192.0.2.1/32"  # TEST-NET-1: documentation only, never routed
DEFAULT_SSH_KEY = Path("~/.ssh/id_ed25519.pub")
MIN_BOOT_DISK_GB = 20  # Ubuntu, Docker and the stack's images


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked for on the command line."""

    tier_id: str
    provider: str
    region: str | None = None
    name: str | None = None
    nodes: int | None = None  # None: keep the deployment's count (1 for a new one)
    admin_cidr: str | None = None
    ssh_public_key_file: Path | None = None
    backend: str | None = None
    catalog_path: Path | None = None
    images: Mapping[str, str | None] = field(default_factory=dict)  # service -> image override
    wait_s: float = 1800  # how long `deploy` waits for the box to serve after the push
    domain: str | None = None  # a DNS name for a public (ACME) certificate; None: internal CA
    allow_unverified: bool = False  # serve models the catalog has no sha256 for


@dataclass(frozen=True)
class Resolved:
    """The request resolved, once: tier, offer, name, network and key choices, sizes, price,
    domain, and the deployment it changes (its record and Pulumi backend) when there is one."""

    catalog: Catalog
    tier: Tier
    offer: Offer
    name: str
    region: str
    nodes: int
    admin_cidr: str
    ssh_public_key: str
    volume_gb: int
    monthly_usd: float
    notes: list[str] = field(default_factory=list)
    images: Mapping[str, str | None] = field(default_factory=dict)
    domain: str | None = None
    allow_unverified: bool = False
    existing: DeploymentRecord | None = None
    backend: str | None = None  # the Pulumi backend: the request's, else the deployment's

    @property
    def provider(self) -> str:
        return self.offer.provider


def default_name(provider: str) -> str:
    """One default deployment per provider, so running again with another tier updates it."""
    return f"hybridctl-{provider}"


def deployment_name(request: DeployRequest) -> str:
    """The name the request deploys under: --name (checked), else hybridctl-<provider>."""
    return check_name(request.name or default_name(request.provider))


def volume_size_gb(catalog: Catalog, tier: Tier, provider: str) -> int:
    """Room for the tier's model files with 50% to spare plus 10 GB, in 10 GB steps."""
    models_mb = sum(
        catalog.models[m.model].file_size_mb for m in tier.models if m.model in catalog.models
    )
    wanted = models_mb / 1000 * 1.5 + 10
    size = int(math.ceil(wanted / 10) * 10)
    return max(size, get_cloud(provider).support.volume_gb_min)


def read_ssh_public_key(path: Path | None) -> tuple[str, Path]:
    """The admin's SSH public key line from --ssh-public-key, else ~/.ssh/id_ed25519.pub."""
    chosen = (path or DEFAULT_SSH_KEY).expanduser()
    if not chosen.is_file():
        if path is None:
            raise UsageError(
                f"no SSH public key given and {chosen} does not exist",
                hint="Pass --ssh-public-key FILE, or create a key with "
                "`ssh-keygen -t ed25519` (it writes ~/.ssh/id_ed25519.pub).",
            )
        raise UsageError(f"--ssh-public-key {chosen} does not exist")
    try:
        text = chosen.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read --ssh-public-key {chosen}: {exc}") from None
    first = text.splitlines()[0] if text else ""
    line = check_ssh_public_key(text if "PRIVATE KEY" in text else first, str(chosen))
    return line, chosen


def resolve(
    catalog: Catalog,
    request: DeployRequest,
    *,
    existing: DeploymentRecord | None,
    offline_plan: bool,
    placeholder_ssh_key: str | None = None,
) -> Resolved:
    """Pick the offer, the name, the region, the admin network and the key for this deploy."""
    from hybridctl.catalog import find_tier

    tier = find_tier(catalog, request.tier_id)
    offer = tier.offer_for(request.provider)
    name = deployment_name(request)
    notes: list[str] = []
    if existing is not None and existing.provider != request.provider:
        raise UsageError(
            f"deployment {name!r} runs on {existing.provider}; it cannot move to "
            f"{request.provider} in place",
            hint=f"Pick another --name for a {request.provider} deployment.",
        )
    nodes = request.nodes or (existing.nodes if existing is not None else 1)
    if nodes < 1:
        raise UsageError(f"--nodes must be at least 1, got {nodes}")
    region = request.region or (existing.region if existing else None) or offer.region

    if request.admin_cidr:
        admin_cidr = check_admin_cidr(request.admin_cidr)
    elif existing is not None:
        admin_cidr = existing.admin_cidr
    elif offline_plan:
        admin_cidr = PLACEHOLDER_ADMIN_CIDR
        notes.append(
            f"--admin-cidr not given: the plan uses the placeholder {PLACEHOLDER_ADMIN_CIDR}; "
            "a real deploy requires --admin-cidr (the network allowed to SSH in)."
        )
    else:
        raise UsageError(
            "--admin-cidr is required: it is the only network allowed to reach SSH (port 22)",
            hint="Give your own address, e.g. --admin-cidr 203.0.113.7/32 (find it with "
            "`curl -s https://ifconfig.me`). SSH is never opened to 0.0.0.0/0.",
        )

    if request.ssh_public_key_file is not None or existing is None:
        try:
            ssh_key, _ = read_ssh_public_key(request.ssh_public_key_file)
        except UsageError:
            if (
                not offline_plan
                or request.ssh_public_key_file is not None
                or not placeholder_ssh_key
            ):
                raise
            ssh_key = placeholder_ssh_key
            notes.append(
                f"no SSH public key at {DEFAULT_SSH_KEY}: the plan uses a throwaway key; a real "
                "deploy needs --ssh-public-key FILE."
            )
    else:
        ssh_key = existing.ssh_public_key

    from hybridctl.catalog.checks import require_verified
    from hybridctl.render.context import validate_domain

    if offline_plan:  # a plan shows what a deploy would refuse, and still plans
        try:
            notes += require_verified(catalog, tier, allow_unverified=request.allow_unverified)
        except InputError as exc:
            notes.append(f"a deploy would refuse this: {exc.message}")
    else:
        notes += require_verified(catalog, tier, allow_unverified=request.allow_unverified)
    return Resolved(
        catalog=catalog,
        tier=tier,
        offer=offer,
        name=name,
        region=region,
        nodes=nodes,
        admin_cidr=admin_cidr,
        ssh_public_key=ssh_key,
        volume_gb=volume_size_gb(catalog, tier, request.provider),
        monthly_usd=round(offer.monthly_usd * nodes, 2),
        notes=notes,
        images=request.images,
        # The domain a deployment was given stays with it (a resume, an upgrade, a re-deploy).
        domain=validate_domain(
            request.domain or (existing.outputs.get("domain") if existing else None)
        ),
        allow_unverified=request.allow_unverified,
        existing=existing,
        backend=request.backend or (existing.backend_url if existing else None),
    )


def resolve_deploy(catalog: Catalog, request: DeployRequest) -> Resolved:
    """A real deploy's request, resolved against the deployment of that name if there is one."""
    from hybridctl.catalog import deployments

    name = deployment_name(request)
    return resolve(catalog, request, existing=deployments.find_record(name), offline_plan=False)


def build_spec(resolved: Resolved, host_private: str, host_public: str) -> DeploySpec:
    """Render the cloud-init user data with the pinned host key and assemble the DeploySpec.

    The user data holds no bundle and no .env: `deploy` copies both over SSH once the pinned
    key answers (see hybridctl.deploy.box.push), so no secret of the stack sits in the metadata.
    """
    from hybridctl.render.cloud_init import SshHostKey
    from hybridctl.render.user_data import render_user_data

    user_data = render_user_data(
        resolved.catalog,
        resolved.tier.id,
        resolved.provider,
        admin_ssh_public_key=resolved.ssh_public_key,
        admin_cidr=resolved.admin_cidr,
        ssh_host_key=SshHostKey(private_openssh=host_private, public_openssh=host_public),
        images=dict(resolved.images),
        domain=resolved.domain,
        with_bundle=False,
    )
    return DeploySpec(
        name=resolved.name,
        provider=resolved.provider,
        tier_id=resolved.tier.id,
        instance_type=resolved.offer.instance_type,
        region=resolved.region,
        ssh_public_key=resolved.ssh_public_key,
        admin_cidr=resolved.admin_cidr,
        user_data=user_data,
        host_key_public=host_public,
        volume_gb=resolved.volume_gb,
        disk_gb=max(MIN_BOOT_DISK_GB, math.ceil(resolved.tier.disk_gb)),
        node_count=resolved.nodes,
        gpu=resolved.tier.gpu is not None,
    )


def bundle_archive_for(resolved: Resolved) -> bytes:
    """The tier's bundle as the tar.xz `deploy` copies to each node (no .env: it goes apart)."""
    from hybridctl.render import RenderOptions
    from hybridctl.render.bundle import CLOUD_INIT_FILE, render_files
    from hybridctl.render.cloud_init import GPU_HOST_SCRIPT, bundle_archive, render_gpu_host

    options = RenderOptions(
        tier_id=resolved.tier.id,
        provider=resolved.provider,
        images=dict(resolved.images),
        domain=resolved.domain,
        admin_cidr=resolved.admin_cidr,
        nodes=resolved.nodes,
        allow_unverified=resolved.allow_unverified,
    )
    rendered = render_files(resolved.catalog, options)
    files = {p: t for p, t in rendered.files.items() if p != CLOUD_INIT_FILE}
    files[GPU_HOST_SCRIPT] = render_gpu_host(rendered.context)
    return bundle_archive(files)


def new_record(
    resolved: Resolved, spec: DeploySpec, backend_url: str, *, status: str
) -> DeploymentRecord:
    """The deployment's record as this deploy leaves it; creation time and outputs carry over."""
    from hybridctl.catalog import deployments
    from hybridctl.deploy.box import hostkeys

    existing = resolved.existing
    stamp = deployments.now()
    return DeploymentRecord(
        name=resolved.name,
        provider=resolved.provider,
        tier=resolved.tier.id,
        region=resolved.region,
        instance_type=spec.instance_type,
        nodes=spec.node_count,
        admin_cidr=spec.admin_cidr,
        ssh_public_key=spec.ssh_public_key,
        host_key_public=spec.host_key_public,
        host_key_fingerprint=hostkeys.fingerprint(spec.host_key_public),
        known_hosts=str(deployments.known_hosts_path(resolved.name)),
        backend_url=backend_url,
        monthly_usd=resolved.monthly_usd,
        status=status,  # type: ignore[arg-type]
        created=existing.created if existing else stamp,
        updated=stamp,
        outputs=existing.outputs if existing else {},
        rotated_host_keys=existing.rotated_host_keys if existing else {},
    )
