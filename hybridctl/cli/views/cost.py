"""Draws `hybridctl cost`: per scenario, the plan's bill and verdict beside the guide's figure."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from hybridctl.cli.output import console
from hybridctl.planning.one_verdict import ScenarioVerdict


def print_scenarios(results: Sequence[ScenarioVerdict]) -> None:
    """Each scenario's table, its verdict (recommend's) and why the guide's figures differ."""
    for r in results:
        console.print(_table(r))
        console.print(f"[bold]Verdict:[/] {escape(r.plan.verdict.headline)}")
        console.print(f"  the same traffic as `{r.equivalent_command}`")
        console.print("  Why the guide's figures differ:")
        for line in r.differences:
            console.print(f"  - {escape(line)}")
        console.print()


def _table(r: ScenarioVerdict) -> Table:
    g, option = r.guide, r.tier_option
    local_pct = 100 * g.local_requests / g.requests_per_month if g.requests_per_month else 0
    title = (
        f"{g.name}: {g.requests_per_month:,.0f} requests/month, {local_pct:.0f}% local in the "
        "guide (VPS tier selection guide, Cost-Benefit Analysis)"
    )
    table = Table(title=escape(title), title_justify="left")
    table.add_column("")
    table.add_column(f"this plan (tier {g.tier})", justify="right")
    table.add_column("the guide's figure", justify="right")
    cloud = r.plan.verdict.cloud_only_usd
    if option is None or option.hybrid_usd is None:
        table.add_row("server", "no offer", _usd(g.server_usd))
        table.add_row("cloud only", _usd(cloud), _usd(g.cloud_only_usd))
        return table
    when = f", price as of {r.tier_price_as_of}" if r.tier_price_as_of else ""
    table.add_row(
        "server",
        f"{_usd(option.server_usd)} ({escape(option.provider)} "
        f"{escape(option.instance_type)}{' x ' + str(option.nodes) if option.nodes > 1 else ''}"
        f"{when})",
        _usd(g.server_usd),
    )
    table.add_row(
        "served locally",
        f"{option.local_share:.0%}" if option.local_share is not None else "-",
        f"{g.local_requests:,.0f} ({local_pct:.0f}%)",
    )
    table.add_row(
        "cloud API with the box",
        _usd(option.hybrid_usd - option.server_usd),
        _usd(g.complex_api_usd),
    )
    table.add_row("cloud only", _usd(cloud), _usd(g.cloud_only_usd))
    table.add_row("hybrid total", _usd(option.hybrid_usd), _usd(g.hybrid_usd))
    saved = cloud - option.hybrid_usd
    guide_verdict = "worth it" if g.savings_usd > 0 else "not cost-effective"
    carries = "" if option.feasible else f" (does not carry it: {escape(option.reason)})"
    table.add_row(
        "[bold]savings[/]",
        f"[bold]{_usd(saved)}[/]{carries}",
        f"[bold]{_usd(g.savings_usd)}[/] ({g.savings_pct:.0f}%, {g.roi_x:.1f}x VPS) "
        f"{guide_verdict}",
    )
    return table


def _usd(value: float) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if value == int(value) else f"{sign}${abs(value):,.2f}"
