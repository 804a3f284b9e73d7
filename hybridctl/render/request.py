"""What `hybridctl render` was asked, checked against the providers and the catalog, rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.errors import InputError, UsageError
from hybridctl.paths import not_a_file
from hybridctl.providers.registry import DEFAULT_CLOUD
from hybridctl.render.bundle import RenderResult
from hybridctl.render.checks import CheckReport

_RENDERED_BY = "Pass the folder `hybridctl render --tier T --out DIR` wrote"


@dataclass(frozen=True)
class RenderRequest:
    """The command line of `hybridctl render`, before anything is read or checked."""

    tier: str
    provider: str = DEFAULT_CLOUD
    out: Path | None = None
    force: bool = False
    ollama: bool = False
    domain: str | None = None
    admin_cidr: str | None = None
    ssh_public_key_file: Path | None = None
    images_file: Path | None = None
    route_urls: dict[str, str] = field(default_factory=dict)
    allow_unverified: bool = False
    catalog_path: Path | None = None


def _read_key(path: Path) -> str:
    hint = "Pass the .pub file, e.g. --ssh-public-key ~/.ssh/id_ed25519.pub."
    path = path.expanduser()
    problem = not_a_file(path)
    if problem:
        raise InputError(f"--ssh-public-key {path} {problem}", hint=hint)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the SSH public key {path}: {exc}", hint=hint) from None
    if not text.strip():
        raise InputError(f"--ssh-public-key {path} is empty", hint=hint)
    return text


def render_request(request: RenderRequest) -> RenderResult:
    """Render the bundle asked for; a cloud must have an offer for the tier, as for deploy."""
    from hybridctl.catalog import find_tier, load_catalog
    from hybridctl.providers.registry import get_provider
    from hybridctl.render.bundle import render_bundle
    from hybridctl.render.context import RenderOptions
    from hybridctl.render.images_file import load_images_file

    chosen = get_provider(request.provider)
    if (request.admin_cidr is None) != (request.ssh_public_key_file is None):
        raise UsageError(
            "cloud-init needs both --admin-cidr and --ssh-public-key",
            hint="Give both, or neither (then cloud-init.yaml is not written).",
        )
    key_file = request.ssh_public_key_file
    options = RenderOptions(
        tier_id=request.tier,
        provider=chosen.name,
        ollama=request.ollama,
        domain=request.domain,
        admin_cidr=request.admin_cidr,
        ssh_public_key=_read_key(key_file) if key_file else None,
        images=load_images_file(request.images_file),
        route_urls=request.route_urls,
        publish_address="127.0.0.1" if chosen.kind == "local" else None,
        allow_unverified=request.allow_unverified,
    )
    catalog = load_catalog(request.catalog_path)
    if chosen.kind == "cloud":
        find_tier(catalog, request.tier).offer_for(chosen.name)
    target = request.out or Path(f"hybridctl-bundle-tier-{request.tier}")
    return render_bundle(catalog, options, target, force=request.force)


def check_bundle_dir(bundle: Path, catalog_path: Path | None) -> CheckReport:
    """Check a bundle folder `render` wrote; a path that is not one gets a usage error."""
    from hybridctl.catalog import load_catalog
    from hybridctl.render.checks import check_bundle
    from hybridctl.render.files import MANIFEST

    if not bundle.exists():
        raise UsageError(f"--check {bundle}: no such folder", hint=f"{_RENDERED_BY}.")
    if not bundle.is_dir():
        raise UsageError(
            f"--check {bundle} is a file, not a bundle folder", hint=f"{_RENDERED_BY}."
        )
    if not (bundle / MANIFEST).is_file():
        raise InputError(
            f"{bundle} is not a hybridctl bundle (it has no {MANIFEST})",
            hint=f"{_RENDERED_BY}, or render one.",
        )
    return check_bundle(bundle, load_catalog(catalog_path))


def parse_route_urls(values: list[str] | None) -> dict[str, str]:
    """--route-url ROUTE=URL values as a mapping; a malformed one is a usage error."""
    from urllib.parse import urlsplit

    from hybridctl.errors import UsageError

    routes: dict[str, str] = {}
    for value in values or []:
        route, sep, url = value.partition("=")
        parts = urlsplit(url)
        if not sep or not route or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--route-url {value!r} is not ROUTE=URL",
                hint="e.g. --route-url medium=http://relay.internal:8000/v1",
            )
        routes[route] = url
    return routes
