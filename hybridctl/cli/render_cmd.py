"""`hybridctl render`: write a tier's bundle (compose, router, cloud-init, .env) or check one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.options import (
    CatalogOption,
    ImagesOption,
    JsonOption,
    RouteUrlOption,
    complete_provider,
    complete_tier,
)
from hybridctl.providers.names import DEFAULT_CLOUD


def _check(bundle: Path, catalog_path: Path | None, as_json: bool) -> None:
    from hybridctl.cli.output import print_json
    from hybridctl.render.outcome import check_failure, check_summary
    from hybridctl.render.request import check_bundle_dir

    report = check_bundle_dir(bundle, catalog_path)
    summary = check_summary(bundle, report)
    if as_json:
        print_json(summary)
    elif report.ok:
        from hybridctl.cli.views.render import print_check_ok

        print_check_ok(summary)
    if not report.ok:
        raise check_failure(bundle, report)


def render(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            "-t",
            help="Tier to render (see `hybridctl tiers`).",
            autocompletion=complete_tier,
        ),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            "-p",
            help="Where the box runs: hetzner, aws, gcp, or local (this machine).",
            autocompletion=complete_provider,
        ),
    ] = DEFAULT_CLOUD,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Bundle folder (default: ./hybridctl-bundle-tier-T)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that differ from this render.")
    ] = False,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            metavar="DIR",
            help="Validate an existing bundle folder instead of rendering.",
        ),
    ] = None,
    ollama: Annotated[
        bool, typer.Option("--ollama", help="Serve the models with Ollama, not llama.cpp.")
    ] = False,
    admin_cidr: Annotated[
        str | None,
        typer.Option("--admin-cidr", help="Network SSH is allowed from (for cloud-init.yaml)."),
    ] = None,
    ssh_public_key: Annotated[
        Path | None,
        typer.Option("--ssh-public-key", help="Admin's SSH public key file (for cloud-init)."),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="DNS name for a public TLS certificate (else self-signed)."),
    ] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Render a tier whose models have no sha256 in the catalog (named in a warning).",
        ),
    ] = False,
    images: ImagesOption = None,
    route_url: RouteUrlOption = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render the stack a tier runs (docker-compose, router config, cloud-init, .env), or check one.

    Secrets go only into the bundle's .env (mode 0600): API keys from your environment
    (OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY, OPENROUTER_API_KEY, GEMINI_API_KEY) and
    generated passwords, kept across re-renders. Exits 1 when the bundle fails its checks.

    Example: hybridctl render --tier 2 --out ./bundle

    Example: hybridctl render --check ./bundle
    """
    flags = dict(locals())  # every option by parameter name: taken before any other local exists
    if check is not None:
        _check(check, catalog, as_json)
        return
    from hybridctl.render import outcome
    from hybridctl.render.request import parse_route_urls, render_request

    outcome.require_tier(tier)
    result = render_request(outcome.request_from_flags(flags, parse_route_urls(route_url)))
    summary = outcome.render_summary(result)
    if as_json:
        from hybridctl.cli.output import print_json

        print_json(summary)
    else:
        from hybridctl.cli.views.render import print_summary

        print_summary(summary)
    if result.problems:
        raise outcome.render_failure(result.problems)
