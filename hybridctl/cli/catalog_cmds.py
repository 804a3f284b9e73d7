"""`hybridctl tiers`, `models` and `validate`: show and check the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.options import CatalogOption, JsonOption
from hybridctl.cli.output import print_json


def tiers(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List the tiers: hardware, models, volume band and the cheapest deployable offer.

    Example: hybridctl tiers --json
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.planning.tier_rows import tier_rows

    cat = load_catalog(catalog)
    rows = tier_rows(cat)
    if as_json:
        print_json(rows)
        return
    from hybridctl.cli.views.catalog import print_tiers

    print_tiers(rows, cat.tiers)


def models(catalog: CatalogOption = None, as_json: JsonOption = False) -> None:
    """List the model registry: size, quantization, context and the speed documents claim.

    Example: hybridctl models
    """
    from hybridctl.catalog import load_catalog

    cat = load_catalog(catalog)
    if as_json:
        print_json({mid: m.model_dump(mode="json") for mid, m in cat.models.items()})
        return
    from hybridctl.cli.views.catalog import print_models

    print_models(cat)


def validate(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Catalog file to check (default: --catalog, ./tiers.yaml, or the shipped one)."
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a catalog: schema, references, memory fit and bandwidth roofline; exit 2 if invalid.

    Every problem is printed at once with file:line and the field. Claims from the source
    documents that exceed what memory bandwidth allows are printed as warnings.

    Example: hybridctl validate tiers.yaml
    """
    from hybridctl.catalog import validate_catalog
    from hybridctl.paths import catalog_to_validate
    from hybridctl.planning.promise import promise_checks

    report = validate_catalog(catalog_to_validate(path or catalog))
    speed = promise_checks(report.catalog)
    if as_json:
        print_json(
            {
                "path": str(report.path),
                "valid": True,
                "warnings": report.warnings,
                "offers": report.offers,
                "speed": speed,
            }
        )
        return
    from hybridctl.cli.views.catalog import print_validation

    print_validation(report, speed)
