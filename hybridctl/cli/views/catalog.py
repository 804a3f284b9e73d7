"""Draws the catalog: the tiers and models tables, and `validate`'s verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from hybridctl.catalog import Report as ValidationReport
from hybridctl.catalog.schema import Catalog, Tier
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


def print_models(catalog: Catalog) -> None:
    """The model registry: one row per model, with the tiers that list it."""
    tiers_of = {
        mid: [t.id for t in catalog.tiers if any(e.model == mid for e in t.models)]
        for mid in catalog.models
    }
    table = Table(title="Models", title_justify="left")
    for column in (
        "model",
        "params",
        "quant",
        "file",
        "context",
        "runtime",
        "claimed tok/s",
        "tiers",
    ):
        table.add_column(column)
    for mid, model in catalog.models.items():
        claims = ", ".join(f"{c.tokens_per_s:g} ({c.hardware})" for c in model.claims) or "-"
        table.add_row(
            mid,
            f"{model.architecture.parameters_b:g}B",
            model.quantization,
            f"{model.file_size_mb / 1000:.2f} GB",
            f"{model.architecture.context_max:,}",
            ", ".join(model.runtimes),
            claims,
            ", ".join(tiers_of[mid]) or "-",
        )
    console.print(table)


def print_validation(report: ValidationReport, speed: Sequence[str]) -> None:
    """A valid catalog's counts, then the documents' claims and speed promises to doubt."""
    console.print(
        f"[green]ok[/] {report.path}: {len(report.catalog.tiers)} tiers, "
        f"{len(report.catalog.models)} models, {len(report.catalog.cloud_models)} cloud models"
    )
    for warning in report.warnings:
        console.print(f"[yellow]claim[/] {warning}", soft_wrap=True)
    for offer in report.offers:
        console.print(f"[cyan]offer[/] {offer}", soft_wrap=True)
    for finding in speed:
        console.print(f"[yellow]speed[/] {finding}", soft_wrap=True)
