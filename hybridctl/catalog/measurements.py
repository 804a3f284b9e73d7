"""Write bench measurements into the catalog file, editing its text so comments and layout stay."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hybridctl.bench.result import BenchResult
from hybridctl.errors import CatalogError, InputError

_FIELD_ORDER = (
    "tokens_per_s",
    "tokens_per_s_stddev",
    "prompt_tokens_per_s",
    "peak_rss_mib",
    "machine",
    "llama_cpp",
    "date",
    "tier",
    "aggregate_tokens_per_s",
    "parallel_slots",
)


@dataclass(frozen=True)
class MeasurementUpdate:
    """One measurement to record under a catalog model."""

    model_id: str
    fields: dict[str, Any]


def machine_label(result: Mapping[str, Any]) -> str:
    """A short description of the machine a result (a bench's or a tune report) was measured on."""
    machine = result.get("machine") or {}
    cpu = machine.get("cpu_model") or "unknown CPU"
    cpus = machine.get("logical_cpus")
    ram = machine.get("ram_total_mib")
    parts = [str(cpu)]
    if cpus:
        parts.append(f"{cpus} vCPU")
    if ram:
        parts.append(f"{ram / 1024:.1f} GiB")
    return ", ".join(parts)


def updates_from_result(
    result: BenchResult,
    model_ids: set[str],
    *,
    catalog_files: set[str] | None = None,
    today: str | None = None,
) -> tuple[list[MeasurementUpdate], list[str]]:
    """Measurements for every row that ran ok on a catalog model's own file; plus what was skipped.

    catalog_files names the rows that benched the catalog's file (None: all of them); a row
    that benched a stand-in file is a measurement of that file, not of the catalog's model.
    """
    llama = result.get("llama_cpp") or {}
    version = str(llama.get("llama_cpp_python") or llama.get("version") or "unknown")
    date = today or datetime.now(UTC).strftime("%Y-%m-%d")
    tier = (result.get("settings") or {}).get("tier")
    updates, skipped = [], []
    for row in result.get("rows", []):
        name = str(row.get("name"))
        gen = ((row.get("generation") or {}).get("tokens_per_s")) or {}
        if row.get("status") != "ok" or not gen.get("mean"):
            skipped.append(f"{name}: not measured ({row.get('status')})")
            continue
        if name not in model_ids:
            skipped.append(f"{name}: not a catalog model")
            continue
        if catalog_files is not None and name not in catalog_files:
            skipped.append(
                f"{name}: the file benched is not the catalog's (its sha256 differs or the "
                "catalog has none), so the figures do not describe the catalog's model"
            )
            continue
        prompt = ((row.get("prompt") or {}).get("tokens_per_s")) or {}
        fields: dict[str, Any] = {
            "tokens_per_s": round(float(gen["mean"]), 2),
            "tokens_per_s_stddev": round(float(gen.get("stddev") or 0), 2),
            "prompt_tokens_per_s": round(float(prompt["mean"]), 1) if prompt.get("mean") else None,
            "peak_rss_mib": (row.get("memory") or {}).get("peak_rss_mib"),
            "machine": machine_label(result),
            "llama_cpp": version,
            "date": date,
            "tier": None if tier is None else str(tier),
        }
        parallel = row.get("parallel") or {}
        aggregate = (parallel.get("tokens_per_s") or {}).get("mean")
        if aggregate:
            fields["aggregate_tokens_per_s"] = round(float(aggregate), 2)
            fields["parallel_slots"] = int(parallel["slots"])
        if fields["peak_rss_mib"] is not None:
            fields["peak_rss_mib"] = round(float(fields["peak_rss_mib"]), 1)
        updates.append(MeasurementUpdate(name, {k: v for k, v in fields.items() if v is not None}))
    return updates, skipped


def _flow_item(fields: dict[str, Any]) -> str:
    """One flow mapping in the catalog's own style; strings as JSON (valid YAML) strings."""
    parts = []
    for key in _FIELD_ORDER:
        if key in fields:
            value = fields[key]
            text = json.dumps(value) if isinstance(value, str) else f"{value:g}"
            parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def _last_content_node(node: yaml.Node) -> yaml.Node:
    """The node that ends last in document order (the deepest last child)."""
    while True:
        if isinstance(node, yaml.MappingNode) and node.value:
            node = node.value[-1][1]
        elif isinstance(node, yaml.SequenceNode) and node.value:
            node = node.value[-1]
        else:
            return node


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts


def insert_measurement(text: str, model_id: str, fields: dict[str, Any]) -> str:
    """Return the catalog text with one measurement appended to the model's `measurements:`."""
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise InputError("the catalog is not a YAML mapping")
    models = next((v for k, v in root.value if k.value == "models"), None)
    if not isinstance(models, yaml.MappingNode):
        raise InputError("the catalog has no `models:` mapping")
    model = next((v for k, v in models.value if k.value == model_id), None)
    if not isinstance(model, yaml.MappingNode):
        raise InputError(f"model {model_id!r} is not in the catalog's models")
    if model.flow_style:
        raise InputError(
            f"model {model_id!r} is written as a one-line flow mapping; cannot add a block to it",
            hint="Write the model as a block mapping (one key per line) and run again.",
        )
    starts = _line_starts(text)
    key_column = model.value[0][0].start_mark.column
    item = _flow_item(fields)
    existing = next(((k, v) for k, v in model.value if k.value == "measurements"), None)
    if existing is None:
        indent = " " * key_column
        block = f"{indent}measurements:\n{indent}  - {item}\n"
        return _insert_after(text, starts, _last_content_node(model), block)
    key, value = existing
    if isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value:
        column = value.value[0].start_mark.column - 2  # the dash sits two columns left
        block = f"{' ' * column}- {item}\n"
        return _insert_after(text, starts, _last_content_node(value), block)
    if isinstance(value, yaml.SequenceNode) and value.flow_style and not value.value:
        # `measurements: []` becomes a block list with one item.
        indent = " " * key_column
        start, end = value.start_mark.index, value.end_mark.index
        return text[:start].rstrip(" ") + f"\n{indent}  - {item}" + text[end:]
    raise InputError(
        f"model {model_id!r} has a `measurements:` value this writer cannot extend "
        f"(line {key.start_mark.line + 1})",
        hint="Write it as a block list (one `- {...}` item per line) or as `[]`.",
    )


def _insert_after(text: str, starts: list[int], node: yaml.Node, block: str) -> str:
    """Insert block at the start of the line after node's last line."""
    end = node.end_mark
    # A block scalar ends at the start of the next line; anything else ends mid-line.
    line = end.line if end.column == 0 else end.line + 1
    if line >= len(starts):
        prefix = text if text.endswith("\n") else text + "\n"
        return prefix + block
    position = starts[line]
    return text[:position] + block + text[position:]


def check_catalog_writable(catalog_path: Path) -> None:
    """Refuse to record into the catalog shipped inside the installed package (site-packages).

    An installed wheel's data file is not the user's to edit: the next upgrade replaces it,
    and it is often not writable. A source checkout's tiers.yaml (outside the package) is.
    """
    from hybridctl import paths

    package_data = (paths._PACKAGE_DIR / "data").resolve()
    if catalog_path.resolve().is_relative_to(package_data):
        raise InputError(
            f"--update-catalog would write into the catalog installed with hybridctl "
            f"({catalog_path}), which an upgrade replaces",
            hint="Copy it somewhere writable and pass that copy: "
            f"cp {catalog_path} tiers.yaml && hybridctl bench ... --update-catalog "
            "--catalog tiers.yaml (or set HYBRIDCTL_CATALOG).",
        )


def record_measurements(catalog_path: Path, updates: list[MeasurementUpdate]) -> None:
    """Append every measurement to the catalog file, validate the result, then replace the file.

    The file is only replaced when the edited text still loads as a valid catalog, so a
    failure leaves the original untouched.
    """
    text = catalog_path.read_text()
    for update in updates:
        text = insert_measurement(text, update.model_id, update.fields)
    write_validated(catalog_path, text)


def write_validated(catalog_path: Path, text: str) -> None:
    """Replace the catalog file with text, only when text still loads as a valid catalog."""
    from hybridctl.catalog import validate_catalog

    check_catalog_writable(catalog_path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{catalog_path.name}.", suffix=".yaml", dir=catalog_path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        try:
            validate_catalog(tmp)
        except CatalogError as exc:
            raise InputError(
                f"writing the measurements would make {catalog_path} invalid:\n{exc.message}",
                hint="The catalog was not changed. Report this; it is a bug in the writer.",
            ) from exc
        tmp.chmod(catalog_path.stat().st_mode & 0o777)
        os.replace(tmp, catalog_path)
    finally:
        if tmp.exists():
            tmp.unlink()
