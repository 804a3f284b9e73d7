"""How `hybridctl route` draws: APGR, the cost-quality curve, the operating point, a re-fit."""

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


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_route_refit(path: Path, tier: str, result: dict[str, Any]) -> None:
    """The box's record per need band and the need threshold re-fit from it."""
    console.print(f"{escape(str(path))}: {result['requests']:.0f} requests recorded")
    table = Table(
        "need band", "requests", "by route", "local checked", "escalated", "rate", title="record"
    )
    for band in result["bands"]:
        routes = ", ".join(f"{r} {n:.0f}" for r, n in band["routes"].items()) or "-"
        table.add_row(
            f"{band['bucket']:.2f}",
            f"{band['requests']:.0f}",
            escape(routes),
            f"{band['checked']:.0f}",
            f"{band['escalated']:.0f}",
            _rate(band["escalation_rate"]),
        )
    console.print(table)
    verdict = "re-fit" if result["changed"] else "kept (no band escalates that often)"
    console.print(
        f"tier {escape(tier)}, strategy {result['strategy']}: need threshold "
        f"{result['current_threshold']:.4f} -> {result['threshold']:.4f}, {verdict}; "
        f"bands escalating >= {result['max_escalation']:.0%} of local answers go to the cloud "
        f"at once ({result['cloud_share']:.0%} of the recorded requests)"
    )
