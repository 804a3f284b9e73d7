"""Draws `hybridctl tiers`: one table row per tier, with the speed legend under it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from hybridctl.catalog.schema import Tier
from hybridctl.cli.output import console


def print_tiers(rows: Sequence[dict[str, Any]], tiers: Sequence[Tier]) -> None:
    """The tiers table from `tier_rows` (rows) beside the catalog's tiers, in the same order."""
    table = Table(title="Tiers", title_justify="left")
    for column in ("tier", "name", "RAM", "vCPU", "GPU", "requests/day", "models", "tok/s"):
        table.add_column(column)
    table.add_column("from")
    for row, tier in zip(rows, tiers, strict=True):
        band = tier.requests_per_day
        volume = f"{band.min:,.0f}-{band.max:,.0f}" if band.max else f"{band.min:,.0f}+"
        offer = row["cheapest_offer"]
        price = f"${offer['monthly_usd']:,.2f} {offer['provider']}" if offer else "-"
        table.add_row(
            tier.id,
            tier.name,
            f"{tier.ram_gib:g} GiB",
            f"{tier.vcpu:g}",
            row["gpu"] or "-",
            volume,
            "\n".join(row["models"]),
            "\n".join(_speed_cell(speed) for speed in row["speeds"]),
            price,
        )
    console.print(table)
    console.print(
        "tok/s: generation per stream / all parallel slots; m = measured on the tier, "
        "d = derived from a measured efficiency, c = a document's claim (`tiers --json`: detail)"
    )


def _speed_cell(speed: dict[str, Any] | None) -> str:
    if speed is None:
        return "-"
    return (
        f"{speed['generation_tokens_per_s']:.1f} / {speed['aggregate_tokens_per_s']:.1f} "
        f"{speed['source'][0]}"
    )
