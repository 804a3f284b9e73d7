"""`hybridctl tiers`, `models` and `validate`: show and check the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hybridctl.catalog import load_catalog, validate_catalog
from hybridctl.cli.options import CatalogOption, JsonOption
from hybridctl.cli.output import console, print_json
from hybridctl.paths import catalog_to_validate
from hybridctl.planning.speed import promise_checks


def tiers(catalog: CatalogOption = None, json: JsonOption = False) -> None:
    """List the tiers: hardware, models, volume band and the cheapest deployable offer.

    Example: hybridctl tiers --json
    """
    from hybridctl.catalog.tier_rows import tier_rows
    from hybridctl.cli.catalog_views import print_tiers

    cat = load_catalog(catalog)
    rows = tier_rows(cat)
    if json:
        print_json(rows)
        return
    print_tiers(rows, cat.tiers)


def models(catalog: CatalogOption = None, json: JsonOption = False) -> None:
    """List the model registry: size, quantization, context and the speed documents claim.

    Example: hybridctl models
    """
    cat = load_catalog(catalog)
    if json:
        print_json({mid: m.model_dump(mode="json") for mid, m in cat.models.items()})
        return
    tiers_of = {
        mid: [t.id for t in cat.tiers if any(e.model == mid for e in t.models)]
        for mid in cat.models
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
    for mid, model in cat.models.items():
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


def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Catalog file to check (default: --catalog, ./tiers.yaml, or the shipped one)."
        ),
    ] = None,
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Check a catalog: schema, references, memory fit and bandwidth roofline; exit 2 if invalid.

    Every problem is printed at once with file:line and the field. Claims from the source
    documents that exceed what memory bandwidth allows are printed as warnings.

    Example: hybridctl validate tiers.yaml
    """
    report = validate_catalog(catalog_to_validate(path or catalog))
    speed = promise_checks(report.catalog)
    if json:
        print_json(
            {"path": str(report.path), "valid": True, "warnings": report.warnings, "speed": speed}
        )
        return
    console.print(
        f"[green]ok[/] {report.path}: {len(report.catalog.tiers)} tiers, "
        f"{len(report.catalog.models)} models, {len(report.catalog.cloud_models)} cloud models"
    )
    for warning in report.warnings:
        console.print(f"[yellow]claim[/] {warning}", soft_wrap=True)
    for finding in speed:
        console.print(f"[yellow]speed[/] {finding}", soft_wrap=True)
