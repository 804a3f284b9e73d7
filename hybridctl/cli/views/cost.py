"""Draws `hybridctl cost`: one hybrid-versus-cloud-only table per scenario."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from hybridctl.catalog.schema import CostScenario
from hybridctl.cli.output import console
from hybridctl.planning.cost import ScenarioResult


def print_scenarios(scenarios: Sequence[CostScenario], results: Sequence[ScenarioResult]) -> None:
    """Each scenario's table, in the catalog's order (results match scenarios one to one)."""
    for scenario, result in zip(scenarios, results, strict=True):
        console.print(_table(scenario, result))


def _table(scenario: CostScenario, r: ScenarioResult) -> Table:
    local_pct = 100 * r.local_requests / r.requests_per_month if r.requests_per_month else 0
    title = (
        f"{r.name}: {r.requests_per_month:,.0f} requests/month, {local_pct:.0f}% local "
        f"({scenario.source.ref})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("cost category", "cloud-only", f"tier {r.tier} hybrid", "savings"):
        table.add_column(column, justify="right")
    table.add_row("VPS", "$0", _usd(r.server_usd), _usd(-r.server_usd))
    table.add_row(
        f"API ({r.cloud_requests:,.0f} complex)",
        _usd(r.complex_api_usd),
        _usd(r.complex_api_usd),
        "$0",
    )
    table.add_row(
        f"API ({r.local_requests:,.0f} simple, served locally)",
        _usd(r.simple_api_usd),
        "$0",
        _usd(r.simple_api_usd),
    )
    verdict = "worth it" if r.savings_usd > 0 else "not cost-effective"
    table.add_row(
        "[bold]total[/]",
        f"[bold]{_usd(r.cloud_only_usd)}[/]",
        f"[bold]{_usd(r.hybrid_usd)}[/]",
        f"[bold]{_usd(r.savings_usd)}[/] ({r.savings_pct:.0f}%, {r.roi_x:.1f}x VPS) {verdict}",
    )
    return table


def _usd(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if value == int(value) else f"{sign}${abs(value):,.2f}"
