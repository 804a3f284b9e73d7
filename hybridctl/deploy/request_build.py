"""Turn the deploy command's options into a checked request for the local or a cloud driver."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridctl.errors import UsageError


@dataclass(frozen=True)
class DeployOptions:
    """Every option of `hybridctl deploy`, as given on the command line."""

    tier: str | None = None
    provider: str | None = None
    region: str | None = None
    name: str | None = None
    nodes: int | None = None
    admin_cidr: str | None = None
    ssh_public_key: Path | None = None
    yes: bool = False
    plan: bool = False
    backend: str | None = None
    resume: str | None = None
    cancel: str | None = None
    images: Path | None = None
    route_url: list[str] | None = None
    model_file: list[str] | None = None
    allow_unverified: bool = False
    domain: str | None = None
    https_port: int = 443
    http_port: int = 80
    wait: float | None = None
    catalog: Path | None = None
    as_json: bool = False


def check_modes(opts: DeployOptions) -> None:
    """Refuse options of different modes (deploy, --resume, --cancel) given together."""
    modes = [
        flag
        for flag, given in (
            ("--cancel", opts.cancel is not None),
            ("--resume", opts.resume is not None),
            ("--plan", opts.plan),
            ("--tier/--provider", opts.tier is not None or opts.provider is not None),
        )
        if given
    ]
    if len(modes) > 1 and modes != ["--plan", "--tier/--provider"]:
        raise UsageError(
            f"{' and '.join(modes)} cannot be combined",
            hint="Deploy (--tier/--provider, optionally --plan), --resume NAME or --cancel NAME.",
        )


def build_request(opts: DeployOptions) -> tuple[str, Any]:
    """The provider's name and its request: a LocalRequest or a DeployRequest (checked)."""
    from hybridctl.providers.registry import get_provider

    if opts.tier is None or opts.provider is None:
        raise UsageError(
            "--tier and --provider are required",
            hint="e.g. hybridctl deploy --tier 2.5 --provider hetzner --plan",
        )
    chosen = get_provider(opts.provider)
    if chosen.kind == "local":
        return chosen.name, _local_request(opts, opts.tier)
    return chosen.name, _cloud_request(opts, opts.tier, chosen.name)


def _local_request(opts: DeployOptions, tier: str) -> Any:
    from hybridctl.deploy.compose.local import LocalRequest
    from hybridctl.deploy.compose.seed import parse_model_files
    from hybridctl.render.images_file import load_images_file
    from hybridctl.render.request import parse_route_urls

    if opts.plan:
        raise UsageError(
            "--plan is for cloud deployments; a local box costs nothing to try",
            hint="Run it: hybridctl deploy --tier 1 --provider local",
        )
    if opts.domain:
        raise UsageError(
            "--domain is for cloud deployments: a local box is reached as localhost",
            hint="Clients verify a local box with `hybridctl outputs NAME --ca`.",
        )
    images = load_images_file(opts.images)
    route_urls = parse_route_urls(opts.route_url)
    return LocalRequest(
        tier_id=tier,
        name=opts.name,
        images=images,
        route_urls=route_urls,
        model_files=parse_model_files(opts.model_file),
        allow_unverified=opts.allow_unverified,
        https_port=opts.https_port,
        http_port=opts.http_port,
        timeout_s=opts.wait or 900,
    )


def _cloud_request(opts: DeployOptions, tier: str, provider: str) -> Any:
    from hybridctl.deploy.pulumi.spec import DeployRequest
    from hybridctl.render.images_file import load_images_file

    if opts.model_file or opts.route_url:
        raise UsageError(
            "--model-file and --route-url are for --provider local",
            hint="A cloud box downloads the catalog's models and calls the vendors itself.",
        )
    return DeployRequest(
        tier_id=tier,
        images=load_images_file(opts.images),
        provider=provider,
        region=opts.region,
        name=opts.name,
        nodes=opts.nodes,
        admin_cidr=opts.admin_cidr,
        ssh_public_key_file=opts.ssh_public_key,
        backend=opts.backend,
        catalog_path=opts.catalog,
        domain=opts.domain,
        allow_unverified=opts.allow_unverified,
        wait_s=opts.wait or 1800,
    )


def deployment_rows(found: list[Any]) -> list[dict[str, Any]]:
    """The `deployments --json` rows: one summary per saved deployment record."""
    return [
        {
            "name": r.name,
            "provider": r.provider,
            "tier": r.tier,
            "region": r.region,
            "nodes": r.nodes,
            "status": r.status,
            "ip": r.outputs.get("ip"),
            "monthly_usd": r.monthly_usd,
            "updated": r.updated,
        }
        for r in found
    ]
