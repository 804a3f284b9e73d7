"""`hybridctl tiers`, `models` and `validate`: show and check the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hybridctl.catalog import load_catalog, validate_catalog
from hybridctl.cli.options import CatalogOption, JsonOption
from hybridctl.cli.output import console, print_json
from hybridctl.paths import catalog_to_validate
from hybridctl.planning.speed import predict, promise_checks
from hybridctl.sizing import tier_memory_budget


def tiers(catalog: CatalogOption = None, json: JsonOption = False) -> None:
    """List the tiers: hardware, models, volume band and the cheapest deployable offer.

    Example: hybridctl tiers --json
    """
    cat = load_catalog(catalog)
    rows: list[dict[str, Any]] = []
    for tier in cat.tiers:
        budget = tier_memory_budget(cat, tier)
        deployable = [o for o in tier.offers if not o.reference_only]
        cheapest = min(deployable, key=lambda o: o.monthly_usd, default=None)
        rows.append(
            {
                "id": tier.id,
                "name": tier.name,
                "ram_gib": tier.ram_gib,
                "vcpu": tier.vcpu,
                "gpu": tier.gpu.model if tier.gpu else None,
                "disk_gb": tier.disk_gb,
                "transfer_tb": tier.transfer_tb,
                "requests_per_day": tier.requests_per_day.model_dump(),
                "runtime": tier.runtime,
                "models": [m.model for m in tier.models],
                "speeds": [_speed(cat, tier.id, m.model) for m in tier.models],
                "memory_free_mib": round(budget.free_mib),
                "cheapest_offer": cheapest.model_dump(exclude={"price_source", "note"})
                if cheapest
                else None,
                "offers": [o.model_dump(mode="json") for o in tier.offers],
            }
        )
    if json:
        print_json(rows)
        return
    table = Table(title="Tiers", title_justify="left")
    for column in ("tier", "name", "RAM", "vCPU", "GPU", "requests/day", "models", "tok/s"):
        table.add_column(column)
    table.add_column("from")
    for row, tier in zip(rows, cat.tiers, strict=True):
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


def _speed(cat: Any, tier_id: str, model_id: str) -> dict[str, Any] | None:
    if model_id not in cat.models:
        return None
    p = predict(cat, tier_id, model_id)
    return {
        "model": model_id,
        "generation_tokens_per_s": round(p.generation_tokens_per_s, 2),
        "prompt_tokens_per_s": round(p.prompt_tokens_per_s, 1),
        "aggregate_tokens_per_s": round(p.aggregate_tokens_per_s, 2),
        "parallel_slots": p.parallel_slots,
        "source": p.source,
        "detail": p.detail,
    }


def _speed_cell(speed: dict[str, Any] | None) -> str:
    if speed is None:
        return "-"
    return (
        f"{speed['generation_tokens_per_s']:.1f} / {speed['aggregate_tokens_per_s']:.1f} "
        f"{speed['source'][0]}"
    )


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
