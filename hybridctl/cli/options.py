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
