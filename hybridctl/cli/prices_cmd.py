"""The prices group: refresh the offers' prices from the providers' own sources, or show them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.command import Command, SubGroup
from hybridctl.cli.options import CatalogOption, JsonOption, bounded

group = typer.Typer(name="prices", cls=SubGroup, no_args_is_help=True, rich_markup_mode=None)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="The price snapshot file (default: $HYBRIDCTL_PRICES, else "
        "~/.config/hybridctl/prices.yaml, which the catalog reads).",
    ),
]


@group.callback()
def prices() -> None:
    """Read the servers' prices from the providers' own price sources into a dated snapshot.

    Example: hybridctl prices refresh --provider hetzner
    Example: hybridctl prices show
    """


@group.command("refresh", cls=Command)
def refresh_prices(
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-p",
            help="hetzner, aws or gcp (default: each whose credentials are set).",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Only the catalog's offers in this region."),
    ] = None,
    out: OutOption = None,
    usd_per_eur: Annotated[
        float | None,
        bounded(
            "--usd-per-eur",
            low=0,
            above=True,
            high=100,
            metavar="RATE",
            help="USD per EUR for Hetzner's EUR prices (default: the catalog's recorded rate).",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read the offers' prices from the providers into the snapshot.

    Asks Hetzner's Cloud API (HCLOUD_TOKEN), AWS's Price List API (AWS credentials, the [prices]
    extra) and Google's Cloud Billing Catalog API (GCP_BILLING_API_KEY) for the catalog's offers,
    writes the snapshot that `recommend`, `cost` and `tiers` then read over the shipped prices,
    and prints each offer's old and new monthly price.

    Example: hybridctl prices refresh --provider hetzner
    """
    import os

    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.price_refresh import refresh
    from hybridctl.paths import prices_path

    done = refresh(
        load_catalog(catalog),
        out=out or prices_path(),
        today=_today(),
        environ=os.environ,
        provider=provider,
        region=region,
        usd_per_eur=usd_per_eur,
    )
    from hybridctl.cli.views import prices as view

    view.print_refreshed(done, as_json)


@group.command("show", cls=Command)
def show_prices(
    out: OutOption = None, catalog: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """Print the price snapshot in use.

    Example: hybridctl prices show
    """
    from hybridctl.catalog.price_snapshot import read_snapshot
    from hybridctl.cli.views import prices as view
    from hybridctl.paths import prices_path

    path = out or prices_path()
    if path.exists():
        view.print_snapshot(path, read_snapshot(path), as_json)
        return
    from hybridctl.catalog import load_catalog

    shipped = load_catalog(catalog).price_snapshot
    view.print_no_snapshot(path, shipped.as_of if shipped else None, as_json)


def _today() -> str:
    from datetime import date

    return date.today().isoformat()
