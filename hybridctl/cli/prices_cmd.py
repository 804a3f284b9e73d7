"""The prices group: refresh the offers' prices from the providers' own sources, or show them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hybridctl.cli.command import Command, SubGroup
from hybridctl.cli.options import CatalogOption, JsonOption, bounded

if TYPE_CHECKING:
    from hybridctl.catalog import Catalog
    from hybridctl.catalog.price_refresh import Refreshed
    from hybridctl.catalog.price_snapshot import SnapshotFile


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
    _print_refreshed(done, as_json)


@group.command("show", cls=Command)
def show_prices(
    out: OutOption = None, catalog: CatalogOption = None, as_json: JsonOption = False
) -> None:
    """Print the price snapshot in use.

    Example: hybridctl prices show
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.price_snapshot import read_snapshot
    from hybridctl.paths import prices_path

    path = out or prices_path()
    snapshot = read_snapshot(path) if path.exists() else None
    _print_snapshot(path, snapshot, load_catalog(catalog), as_json)


def _today() -> str:
    from datetime import date

    return date.today().isoformat()


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _print_refreshed(done: Refreshed, as_json: bool) -> None:
    """The table of old and new monthly prices, what was not priced, and where it was written."""
    from hybridctl.cli.output import console, print_json

    if as_json:
        print_json(done.as_dict())
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Monthly server prices, as of {done.as_of} (USD, 730 h)")
    for column in ("offer", "region", "old", "new", "change"):
        table.add_column(column, justify="right" if column in ("old", "new", "change") else "left")
    for row in done.rows:
        change = "-" if row.change_pct is None else f"{row.change_pct:+.1f}%"
        offer = f"{row.provider} {row.instance_type}"
        table.add_row(offer, row.region, _money(row.old_usd), _money(row.new_usd), change)
    console.print(table)
    for row in (r for r in done.rows if r.reason):
        console.print(
            f"not priced, keeps {_money(row.old_usd)}: {row.provider} {row.instance_type} "
            f"({row.region}): {escape(row.reason or '')}"
        )
    for line in [*done.notes, *(f"skipped {s}" for s in done.skipped)]:
        console.print(escape(line))
    console.print(
        f"Wrote {escape(str(done.path))} ({', '.join(done.providers)}; EUR at "
        f"{done.usd_per_eur:g} USD per EUR). `hybridctl recommend` now uses these prices."
    )


def _print_snapshot(
    path: Path, snapshot: SnapshotFile | None, catalog: Catalog, as_json: bool
) -> None:
    """The snapshot in use, or the shipped prices' date when there is none."""
    from hybridctl.cli.output import console, print_json

    shipped = catalog.price_snapshot
    if snapshot is None:
        if as_json:
            print_json({"path": str(path), "snapshot": None})
            return
        when = shipped.as_of if shipped else "an unrecorded date"
        console.print(f"No price snapshot at {path}: the catalog's prices (as of {when}) are used.")
        console.print("Run `hybridctl prices refresh` to read them from the providers.")
        return
    if as_json:
        print_json({"path": str(path), "snapshot": snapshot.model_dump(mode="json")})
        return
    from rich.markup import escape

    console.print(f"Price snapshot {escape(str(path))}, as of {snapshot.as_of}:")
    for entry in snapshot.offers:
        console.print(
            f"  {entry.provider:<8} {entry.instance_type:<16} {entry.region:<12} "
            f"{_money(entry.monthly_usd):>10}/month  {entry.as_of}  {escape(entry.detail)}"
        )
