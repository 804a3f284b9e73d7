"""How `prices refresh` and `prices show` print: old and new monthly prices, the snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hybridctl.cli.output import money, print_json

if TYPE_CHECKING:
    from hybridctl.catalog.price_refresh import Refreshed
    from hybridctl.catalog.price_snapshot import SnapshotFile


def print_refreshed(done: Refreshed, as_json: bool) -> None:
    """The table of old and new monthly prices, what was not priced, and where it was written."""
    if as_json:
        print_json(done.as_dict())
        return
    from rich.markup import escape
    from rich.table import Table

    from hybridctl.cli.output import console

    table = Table(title=f"Monthly server prices, as of {done.as_of} (USD, 730 h)")
    for column in ("offer", "region", "old", "new", "change"):
        table.add_column(column, justify="right" if column in ("old", "new", "change") else "left")
    for row in done.rows:
        change = "-" if row.change_pct is None else f"{row.change_pct:+.1f}%"
        offer = f"{row.provider} {row.instance_type}"
        table.add_row(offer, row.region, money(row.old_usd), money(row.new_usd), change)
    console.print(table)
    for row in (r for r in done.rows if r.reason):
        console.print(
            f"not priced, keeps {money(row.old_usd)}: {row.provider} {row.instance_type} "
            f"({row.region}): {escape(row.reason or '')}"
        )
    for line in [*done.notes, *(f"skipped {s}" for s in done.skipped)]:
        console.print(escape(line))
    console.print(
        f"Wrote {escape(str(done.path))} ({', '.join(done.providers)}; EUR at "
        f"{done.usd_per_eur:g} USD per EUR). `hybridctl recommend` now uses these prices."
    )


def print_no_snapshot(path: Path, shipped_as_of: str | None, as_json: bool) -> None:
    """No snapshot: the catalog's shipped prices are used, and their date."""
    if as_json:
        print_json({"path": str(path), "snapshot": None})
        return
    from hybridctl.cli.output import console

    when = shipped_as_of or "an unrecorded date"
    console.print(f"No price snapshot at {path}: the catalog's prices (as of {when}) are used.")
    console.print("Run `hybridctl prices refresh` to read them from the providers.")


def print_snapshot(path: Path, snapshot: SnapshotFile, as_json: bool) -> None:
    """The snapshot in use: each offer's monthly price, date and how it was read."""
    if as_json:
        print_json({"path": str(path), "snapshot": snapshot.model_dump(mode="json")})
        return
    from rich.markup import escape

    from hybridctl.cli.output import console

    console.print(f"Price snapshot {escape(str(path))}, as of {snapshot.as_of}:")
    for entry in snapshot.offers:
        console.print(
            f"  {entry.provider:<8} {entry.instance_type:<16} {entry.region:<12} "
            f"{money(entry.monthly_usd):>10}/month  {entry.as_of}  {escape(entry.detail)}"
        )
