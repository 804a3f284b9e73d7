"""Write speed efficiencies and tuned server settings into the catalog text, layout kept."""

from __future__ import annotations

import json
from typing import Any

import yaml

from hybridctl.catalog.measurements import _insert_after, _last_content_node, _line_starts
from hybridctl.errors import InputError


def flow(fields: dict[str, Any]) -> str:
    """A one-line YAML flow mapping; strings as JSON strings, None left out."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | list):
            text = json.dumps(value)
        else:
            text = f"{value:g}"
        parts.append(f"{key}: {text}")
    return "{" + ", ".join(parts) + "}"


def _root(text: str) -> yaml.MappingNode:
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        raise InputError("the catalog is not a YAML mapping")
    return root


def insert_efficiency(text: str, fields: dict[str, Any]) -> str:
    """Append one record to the top-level `speed_efficiencies:` list (created at the end)."""
    root = _root(text)
    existing = next((v for k, v in root.value if k.value == "speed_efficiencies"), None)
    item = flow(fields)
    if existing is None:
        prefix = text if text.endswith("\n") else text + "\n"
        header = (
            "\n# Speed-model efficiencies `hybridctl bench --update-catalog` measured: the\n"
            "# fraction of the bandwidth roofline (generation), prompt tok/s x B params per\n"
            "# thread, and the parallel gain (see docs/plans-speed.md).\n"
        )
        return prefix + header + f"speed_efficiencies:\n  - {item}\n"
    if isinstance(existing, yaml.SequenceNode) and not existing.flow_style and existing.value:
        column = existing.value[0].start_mark.column - 2
        starts = _line_starts(text)
        return _insert_after(
            text, starts, _last_content_node(existing), f"{' ' * column}- {item}\n"
        )
    if isinstance(existing, yaml.SequenceNode) and existing.flow_style and not existing.value:
        start, end = existing.start_mark.index, existing.end_mark.index
        return text[:start].rstrip(" ") + f"\n  - {item}" + text[end:]
    raise InputError(
        "the catalog's `speed_efficiencies:` is not a block list this writer can extend",
        hint="Write it as a block list (one `- {...}` item per line) or as `[]`.",
    )


def set_tier_tuning(text: str, tier_id: str, fields: dict[str, Any]) -> str:
    """Write `tuning: {...}` into tier `tier_id`, replacing an earlier one (one line)."""
    root = _root(text)
    tiers = next((v for k, v in root.value if k.value == "tiers"), None)
    if not isinstance(tiers, yaml.SequenceNode):
        raise InputError("the catalog has no `tiers:` list")
    for tier in tiers.value:
        if not isinstance(tier, yaml.MappingNode):
            continue
        ident = next((v.value for k, v in tier.value if k.value == "id"), None)
        if str(ident) != tier_id:
            continue
        column = tier.value[0][0].start_mark.column
        line = f"{' ' * column}tuning: {flow(fields)}\n"
        starts = _line_starts(text)
        for key, value in tier.value:
            if key.value == "tuning":
                start = starts[key.start_mark.line]
                end_line = value.end_mark.line + (0 if value.end_mark.column == 0 else 1)
                end = starts[end_line] if end_line < len(starts) else len(text)
                return text[:start] + line + text[end:]
        models_key = next((k for k, _ in tier.value if k.value == "models"), None)
        if models_key is None:
            return _insert_after(text, starts, _last_content_node(tier), line)
        position = starts[models_key.start_mark.line]
        return text[:position] + line + text[position:]
    raise InputError(f"tier {tier_id!r} is not in the catalog")
