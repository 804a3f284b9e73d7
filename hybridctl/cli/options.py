"""Typer options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from hybridctl.paths import CATALOG_ENV


def bounded(
    *flags: str,
    low: float,
    high: float,
    metavar: str,
    help: str,
    panel: str | None = None,
    above: bool = False,
    show_default: bool = True,
) -> Any:
    """A numeric option limited to a range a real workload can have: [low, high], or
    (low, high] when `above` (low itself refused, as for a rate or a budget).

    One check and one message per bound, before the command runs: `-r 0` and `-r -5` read
    alike, the error names the flag the user typed, and NaN or infinity never get through.
    """
    return typer.Option(
        *flags,
        callback=in_range(low, high, above=above),
        metavar=metavar,
        help=help,
        rich_help_panel=panel,
        show_default=show_default,
    )


def in_range(low: float, high: float, *, above: bool = False) -> Callable[[Any], Any]:
    """The callback that refuses a number outside the range, naming the bound it crossed."""

    def check(value: Any) -> Any:
        values = value if isinstance(value, list | tuple) else [value]
        for number in (v for v in values if v is not None):
            if above and not number > low:
                raise typer.BadParameter(f"must be more than {_number(low)}, got {_number(number)}")
            if not number >= low:
                raise typer.BadParameter(f"must be at least {_number(low)}, got {_number(number)}")
            if not number <= high:
                raise typer.BadParameter(f"must be at most {_number(high)}, got {_number(number)}")
        return value

    check.bounds = Bounds(low, high, above)  # type: ignore[attr-defined]  # read by the help
    return check


class Bounds(NamedTuple):
    """A bounded option's range, as its help shows it."""

    low: float
    high: float
    above: bool

    def describe(self) -> str:
        return f"{_number(self.low)}{'<' if self.above else '<='}x<={_number(self.high)}"


def _number(value: float) -> str:
    """1, 0.5, 100000000, nan: a bound or a value as the user would type it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


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
        help="local: copy a model from this file instead of downloading it (checked "
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
