"""Typer options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.paths import CATALOG_ENV

CatalogOption = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
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
