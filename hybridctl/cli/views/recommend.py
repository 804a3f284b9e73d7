"""Draws a recommendation: the verdict first, then the cloud-only bill, the box, the candidates."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from hybridctl.cli.output import console, money
from hybridctl.planning.results import Candidate, CloudPlan, HybridPlan, Recommendation, RoutePlan
from hybridctl.planning.router_share import RouterShare


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s" if value >= 1 else f"{value:.2f} s"


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _per_minute(per_day: float) -> str:
    per_minute = per_day / 1440
    return f"{per_minute:,.0f}" if per_minute >= 10 else f"{per_minute:.2g}"


def considered_table(considered: list[Candidate]) -> Table:
    table = Table(title="Every tier x provider considered", title_justify="left")
    for column in ("tier", "provider", "instance", "nodes", "local", "busy", "p95", "total/mo"):
        table.add_column(column, justify="right" if column != "provider" else "left")
    table.add_column("verdict")
    for c in considered:
        table.add_row(
            c.tier,
            c.provider,
            escape(c.instance_type),
            f"{c.nodes:,}",
            "-" if c.local_share is None else f"{c.local_share:.0%}",
            "-" if c.utilization is None else f"{c.utilization:.0%}",
            _seconds(c.p95_latency_s),
            money(c.hybrid_usd),
            ("[green]" if c.feasible else "[dim]") + escape(c.reason) + "[/]",
        )
    return table


def _route_line(route: RoutePlan) -> str:
    members = ", ".join(f"{m.name} {m.share:.0%}" for m in route.members) or "no models"
    return (
        f"{route.share:.0%} to {route.route} ({members}): "
        f"{money(route.usd_per_request * 1000)} per 1,000 requests"
    )


def _cloud(plan: CloudPlan, title: str) -> None:
    console.print(f"  {title}: [bold]{money(plan.monthly_usd)}[/]/month", soft_wrap=True)
    for route in (plan.medium, plan.large):
        if route.share > 0:
            console.print(f"    {_route_line(route)}", soft_wrap=True)


def _router_line(router: RouterShare) -> str:
    """The local share's source and the cloud share that quality costs."""
    line = f"local share: at most {router.local_share:.0%}, {escape(router.source)}"
    if router.gap_recovered is not None and router.cloud_for_quality is not None:
        line += (
            f"; those cloud calls recover {router.gap_recovered:.0%} of the local-to-cloud "
            f"quality gap; recovering {router.quality_target:.0%} of it takes "
            f"{router.cloud_for_quality:.0%} of requests on the cloud"
        )
        if router.near_chance:
            line += " (no better than a random pick on this kind of traffic)"
    return line


def _hybrid(r: Recommendation, h: HybridPlan) -> None:
    w = r.workload
    nodes = f" x {h.nodes:,} behind a load balancer" if h.nodes > 1 else ""
    console.print(
        f"[bold]Cheapest box that carries it:[/] Tier {h.tier} ({escape(h.tier_name)}) on "
        f"{h.provider} {escape(h.instance_type)}{nodes}, region {escape(h.region)}",
        soft_wrap=True,
    )
    for m in h.models:
        console.print(
            f"  local {m.kind:<7} {m.model}: {m.share:.0%} of requests; "
            f"{_rate(m.tokens_per_s)} tok/s generation, {_rate(m.prompt_tokens_per_s)} prompt, "
            f"x{m.parallel_gain:.2g} at {m.slots} slots ({escape(m.speed_detail)}); "
            f"{_seconds(m.single_request_s)} alone, p95 {_seconds(m.p95_latency_s)} "
            f"(first token {_seconds(m.first_token_p95_s)}) at peak",
            soft_wrap=True,
        )
    if h.router is not None:
        console.print(f"  {_router_line(h.router)}", soft_wrap=True)
    console.print(
        f"  capacity: {h.utilization:.0%} busy at peak, headroom {h.headroom:.0%}; p95 latency "
        f"{_seconds(h.p95_latency_s)} (target {w.p95_latency_s:g} s)"
    )
    _cloud(h.spill, "cloud spill")
    console.print(
        f"  monthly: server {money(h.server_usd)} + cloud spill {money(h.spill.monthly_usd)} = "
        f"[bold]{money(h.hybrid_usd)}[/] vs cloud-only {money(r.cloud_only.monthly_usd)}"
        f" (server prices as of {r.prices_as_of or 'an unrecorded date'})"
    )
    if h.savings_usd >= 0:
        console.print(f"  savings: {money(h.savings_usd)}/month ({h.savings_fraction:.0%})")
    if h.break_even_requests_per_day is not None:
        console.print(
            f"  break-even: this box pays for itself from {h.break_even_requests_per_day:,.0f} "
            "requests/day at this route mix (and carries that volume)"
        )


def print_recommendation(r: Recommendation) -> None:
    w, v = r.workload, r.verdict
    colour = {"hybrid": "green", "cloud": "yellow"}.get(v.answer, "red")
    console.print(f"[bold {colour}]Verdict:[/] {escape(v.headline)}", soft_wrap=True)
    if v.beyond_ceiling:
        console.print(f"  past the node ceiling: {escape(v.beyond_ceiling)}", soft_wrap=True)
    console.print(
        f"  traffic: {w.requests_per_day:,.0f} requests/day ({_per_minute(w.requests_per_day)}/min)"
        f", peak x{w.peak_factor:g}, {w.complex_share:.0%} complex of which "
        f"{w.large_need:.0%} of all need the large route, {w.prompt_tokens:,}+"
        f"{w.response_tokens:,} tokens"
    )
    baseline = (
        "the gateway without a box"
        if w.cloud_baseline == "routed"
        else "every request on the large route"
    )
    _cloud(r.cloud_only, f"cloud only ({baseline})")
    if r.hybrid is not None:
        _hybrid(r, r.hybrid)
    console.print(f"  {escape(r.guide_note)}", soft_wrap=True)
    console.print(considered_table(r.considered))
    if r.next_step:
        console.print(f"[bold]Next:[/] {escape(r.next_step)}", soft_wrap=True)


def print_refusal(r: Recommendation) -> None:
    console.print(f"[bold red]Verdict:[/] {escape(r.verdict.headline)}", soft_wrap=True)
    console.print(considered_table(r.considered))
