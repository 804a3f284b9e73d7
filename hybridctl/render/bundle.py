"""Render a tier's bundle: every template into its file, deterministic, then write and check it."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl.catalog.schema import Catalog
from hybridctl.errors import InputError
from hybridctl.render.cloud_init import build_user_data
from hybridctl.render.context import RenderContext, RenderOptions, build_context
from hybridctl.render.engine import make_environment, render_template
from hybridctl.render.envfile import EnvResult, ensure_env
from hybridctl.render.files import WriteReport, write_files
from hybridctl.stackfacts import MODELS_INI, ROUTER_DIR

COMPOSE_FILE = "docker-compose.yml"
CLOUD_INIT_FILE = "cloud-init.yaml"
CLOUD_ROUTES = ("medium", "large")


def _bundle_templates(ctx: RenderContext) -> list[tuple[str, str]]:
    """(template, bundle path) pairs this context renders; order does not matter."""
    pairs = [
        ("compose/docker-compose.yml.j2", COMPOSE_FILE),
        ("models/fetch-models.sh.j2", "models/fetch-models.sh"),
        ("models/warm-models.sh.j2", "models/warm-models.sh"),
        ("proxy/Caddyfile.j2", "proxy/Caddyfile"),
    ]
    if ctx.server == "llama.cpp":
        pairs.append((f"{MODELS_INI}.j2", MODELS_INI))
    if ctx.server == "bitnet.cpp":
        pairs.append(("bitnet/Dockerfile.j2", "bitnet/Dockerfile"))
    if ctx.server == "ollama":
        pairs.append(("models/ollama-import.sh.j2", "models/ollama-import.sh"))
    if ctx.monitoring:
        pairs.append(("prometheus/prometheus.yml.j2", "prometheus/prometheus.yml"))
        pairs.append(("prometheus/alerts.yml.j2", "prometheus/alerts.yml"))
    if ctx.grafana:
        pairs += [
            (
                "grafana/provisioning/datasources/prometheus.yml.j2",
                "grafana/provisioning/datasources/prometheus.yml",
            ),
            (
                "grafana/provisioning/dashboards/hybridctl.yml.j2",
                "grafana/provisioning/dashboards/hybridctl.yml",
            ),
            ("grafana/dashboards/hybridctl.json.j2", "grafana/dashboards/hybridctl.json"),
        ]
    return pairs


def _router_context(catalog: Catalog, ctx: RenderContext, options: RenderOptions) -> Any:
    """The ROUTER module's context, when that module is installed (the hook for router/)."""
    try:
        router = importlib.import_module("hybridctl.render.router")
    except ModuleNotFoundError as exc:
        if exc.name != "hybridctl.render.router":
            raise
        return None
    tier = catalog.tier(ctx.tier_id)
    context = router.build_router_context(catalog, tier, ctx.provider)
    if options.route_urls:
        unknown = sorted(set(options.route_urls) - set(CLOUD_ROUTES))
        if unknown:
            raise InputError(
                f"--route-url names {', '.join(unknown)}, which is not a cloud route",
                hint=f"Cloud routes: {', '.join(CLOUD_ROUTES)} (e.g. --route-url medium=URL).",
            )
        context = router.point_routes_at(
            context, dict(options.route_urls), redis="redis" in ctx.services
        )
    return context


def _router_templates(root: Path) -> list[tuple[str, str]]:
    folder = root / ROUTER_DIR
    if not folder.is_dir():
        return []
    pairs = []
    for path in sorted(folder.rglob("*.j2")):
        relative = path.relative_to(root).as_posix()
        pairs.append((relative, relative[: -len(".j2")]))
    return pairs


@dataclass
class Rendered:
    context: RenderContext
    files: dict[str, str]
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def render_files(
    catalog: Catalog, options: RenderOptions, *, templates: Path | None = None
) -> Rendered:
    """Render the bundle in memory: {bundle path: text}. Secrets are never part of it."""
    from hybridctl.catalog import find_tier
    from hybridctl.paths import templates_dir

    tier = find_tier(catalog, options.tier_id)
    ctx = build_context(catalog, tier, options.model_copy(update={"tier_id": tier.id}))
    root = templates or templates_dir()
    env = make_environment(root)
    notes = list(ctx.notes)
    router = _router_context(catalog, ctx, options)
    router_pairs = _router_templates(root)
    if router is not None:
        ctx = ctx.model_copy(update={"router": router})
    elif router_pairs:
        raise InputError(
            "templates/router/ exists but hybridctl.render.router is missing",
            hint="Install hybridctl completely (the router module renders the gateway config).",
        )
    else:
        notes.append("router config not rendered: hybridctl.render.router is not installed")
    files: dict[str, str] = {}
    for template, path in [*_bundle_templates(ctx), *(router_pairs if router else [])]:
        files[path] = render_template(env, template, ctx)
    if router is not None:
        copied = importlib.import_module("hybridctl.render.router").copied_files()
        files.update({f"{ROUTER_DIR}/{name}": text for name, text in copied.items()})
    if options.admin_cidr and options.ssh_public_key:
        files[CLOUD_INIT_FILE] = build_user_data(ctx, files, options, env=None, host_key=None)
    else:
        notes.append(
            f"{CLOUD_INIT_FILE} not written: give --ssh-public-key and --admin-cidr to render it"
        )
    meta = {
        "tier": ctx.tier_id,
        "provider": ctx.provider,
        "options": {
            "ollama": options.ollama,
            "domain": ctx.domain,
            "allow_unverified": options.allow_unverified,
            "nodes": options.nodes,
            "admin_cidr": options.admin_cidr,
            "images": dict(sorted(options.images.items())),
            "route_urls": dict(sorted(options.route_urls.items())),
        },
    }
    return Rendered(ctx, files, meta, notes)


@dataclass
class RenderResult:
    out: Path
    rendered: Rendered
    report: WriteReport
    env: EnvResult
    problems: list[str]


def prepare_out(out: Path) -> None:
    """Create the bundle folder, or say clearly why it cannot be (a file there, no permission)."""
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out} is an existing file, not a folder",
            hint="Pass a new or existing folder, e.g. --out ./hybridctl-bundle.",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the bundle folder {out}: {exc.strerror}",
            hint="Pass a folder you can write to, e.g. --out ./hybridctl-bundle.",
        ) from None


def render_bundle(
    catalog: Catalog,
    options: RenderOptions,
    out: Path,
    *,
    force: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RenderResult:
    """Render, write (atomically, refusing to clobber changes without force), then check.

    A tier serving a model without a catalog sha256 is refused unless options.allow_unverified.
    """
    from hybridctl.catalog import find_tier
    from hybridctl.catalog.checks import require_verified
    from hybridctl.render.checks import check_bundle

    warnings = require_verified(
        catalog, find_tier(catalog, options.tier_id), allow_unverified=options.allow_unverified
    )
    rendered = render_files(catalog, options)
    rendered.notes[:0] = warnings
    prepare_out(out)
    report = write_files(out, rendered.files, rendered.meta, force=force)
    env = ensure_env(out, os.environ if environ is None else environ)
    problems = check_bundle(out, catalog).problems
    return RenderResult(out, rendered, report, env, problems)
