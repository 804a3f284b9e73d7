"""How `hybridctl route eval` draws: APGR, the cost-quality curve, the operating point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from hybridctl.cli.output import console


def print_route_eval(path: Path, tier: str, result: dict[str, Any]) -> None:
    """The evaluation of one file of per-prompt results against tier's rendered policy."""
    console.print(
        f"{escape(str(path))}: {result['prompts']} prompts; weak model quality "
        f"{result['weak_quality']:.3f}, strong {result['strong_quality']:.3f}"
    )
    console.print(f"APGR {result['apgr']:.3f} (a random router scores 0.500)")
    table = Table("strong-call share", "gap recovered", title="cost-quality curve")
    for point in result["curve"]:
        table.add_row(f"{point['strong_share']:.0%}", f"{point['pgr']:.0%}")
    console.print(table)
    quality = result["share_for_target_pgr"]
    console.print(
        f"to recover {quality['pgr']:.0%} of the gap: {quality['strong_share']:.0%} strong calls"
    )
    console.print(
        f"tier {escape(tier)}, strategy {result['strategy']} (need >= {result['threshold']:.4f}):"
        f" {result['strong_share']:.0%} strong calls recover {result['pgr']:.0%} of the gap"
    )
    suggested = result["suggested"]
    console.print(
        f"for {suggested['strong_share']:.0%} strong calls on these prompts: "
        f"need threshold {suggested['threshold']:.4f}"
    )
