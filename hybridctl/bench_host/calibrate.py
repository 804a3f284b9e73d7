"""Record a bench result in the catalog: model measurements and the speed model's efficiencies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridctl.bench.result import BenchResult
from hybridctl.catalog.calibration_records import insert_efficiency
from hybridctl.catalog.measurements import (
    insert_measurement,
    machine_label,
    updates_from_result,
    write_validated,
)


def bench_command(result: BenchResult) -> str:
    """The command line that reproduces a bench run's settings (recorded with each efficiency)."""
    settings = result.get("settings") or {}
    parts = ["hybridctl bench"]
    if settings.get("tier"):
        parts.append(f"--tier {settings['tier']}")
    for row in result.get("rows", []):
        path = Path(str(row.get("path") or "")).name
        parts.append(
            f"--model {row.get('name')}={path}" if settings.get("tier") else f"--model {path}"
        )
    for key in ("repetitions", "prompt_tokens", "gen_tokens", "threads"):
        if settings.get(key) is not None:
            parts.append(f"--{key.replace('_', '-')} {settings[key]}")
    return " ".join(parts) + " --update-catalog"


def record_bench_result(
    result: BenchResult, catalog_path: Path, catalog_files: set[str], model_ids: set[str]
) -> list[str]:
    """Write measurements (catalog files only) and efficiencies (any file); returns what it did."""
    from hybridctl.planning.calibration import fit_efficiencies

    notes = []
    updates, skipped = updates_from_result(result, model_ids, catalog_files=catalog_files)
    notes += [f"not recorded: {reason}" for reason in skipped]
    efficiencies, no_fit = fit_efficiencies(
        result, machine=machine_label(result), command=bench_command(result)
    )
    notes += no_fit
    if not updates and not efficiencies:
        return [*notes, f"nothing to record in {catalog_path}"]
    text = catalog_path.read_text()
    for update in updates:
        text = insert_measurement(text, update.model_id, update.fields)
    for record in efficiencies:
        text = insert_efficiency(text, record.model_dump(mode="json"))
    write_validated(catalog_path, text)
    if updates:
        names = ", ".join(update.model_id for update in updates)
        notes.append(f"recorded measurements for {names} in {catalog_path}")
    for record in efficiencies:
        notes.append(
            f"recorded the {record.quant_family} efficiency ({record.generation:.0%} of the "
            f"roofline) from {', '.join(record.models)} in {catalog_path}"
        )
    return notes


def update_catalog(
    result: BenchResult,
    plan: dict[str, Any],
    catalog_path: Path | None,
    progress: Callable[[str], None],
) -> None:
    """`bench --update-catalog`: record the result's measurements and efficiencies."""
    from hybridctl.bench_host.plan_builder import catalog_files
    from hybridctl.catalog import load_catalog
    from hybridctl.paths import default_catalog_path

    path = catalog_path or default_catalog_path()
    cat = load_catalog(path)
    for note in record_bench_result(result, path, catalog_files(plan, cat), set(cat.models)):
        progress(note)
