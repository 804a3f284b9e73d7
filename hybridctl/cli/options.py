"""Typer options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.paths import CATALOG_ENV


def bounded(
    *flags: str,
    low: float,
    high: float,
    metavar: str,
    help: str,
    panel: str | None = None,
) -> Any:
    """A numeric option limited to [low, high], a range a real workload can have.

    Typer checks it before the command runs, so the error names the flag the user typed
    (and NaN or infinity never get through: every bound has an upper end).
    """
    return typer.Option(
        *flags, min=low, max=high, metavar=metavar, help=help, rich_help_panel=panel
    )


def http_url(value: str | None) -> str | None:
    """Option callback: an http(s) URL with a host, or a usage error naming the option."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(f"{value!r} is not an http(s) URL (e.g. http://127.0.0.1:8080)")
    return value


def complete_provider(incomplete: str) -> list[str]:
    """Shell completion for --provider."""
    from hybridctl.providers.registry import PROVIDERS

    return [name for name in PROVIDERS if name.startswith(incomplete.lower())]


def complete_tier(incomplete: str) -> list[str]:
    """Shell completion for --tier: the ids in the catalog in use (none if it does not load)."""
    from hybridctl.catalog import load_catalog
    from hybridctl.errors import HybridctlError

    try:
        ids = load_catalog().tier_ids
    except HybridctlError:
        return []
    return [tier for tier in ids if tier.startswith(incomplete)]


CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        metavar="FILE",
        envvar=CATALOG_ENV,
        help=f"Catalog file to use instead of the shipped tiers.yaml (env: {CATALOG_ENV}).",
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

ImagesOption = Annotated[
    Path | None,
    typer.Option(
        "--images",
        help="YAML file mapping services (llm, gateway, redis, prometheus, grafana, proxy, curl) "
        "to other images: a private registry, an air-gapped mirror (env: HYBRIDCTL_IMAGES).",
        show_default=False,
    ),
]

RouteUrlOption = Annotated[
    list[str] | None,
    typer.Option(
        "--route-url",
        metavar="ROUTE=URL",
        help="Send a cloud route (medium, large) to an OpenAI-compatible server of yours "
        "instead of the vendors, e.g. medium=https://relay.example.com/v1 (repeatable).",
        show_default=False,
    ),
]

ModelFileOption = Annotated[
    list[str] | None,
    typer.Option(
        "--model-file",
        metavar="CATALOG_ID=PATH",
        help="local: seed a model from this file instead of downloading it (checked "
        "against the catalog's sha256; repeatable).",
        show_default=False,
    ),
]

AllowUnverifiedOption = Annotated[
    bool,
    typer.Option(
        "--allow-unverified",
        help="Serve models the catalog has no sha256 for (named in a warning); local: also "
        "a --model-file whose sha256 does not match.",
    ),
]
