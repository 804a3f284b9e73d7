"""`hybridctl recommend`: the cheapest tier and provider that carries the expected traffic."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from hybridctl.catalog import load_catalog
from hybridctl.cli.options import CatalogOption, JsonOption
from hybridctl.cli.output import console, print_json
from hybridctl.errors import CheckFailed, UsageError
from hybridctl.planning.recommend import Candidate, NoFeasibleTier, Recommendation, recommend
from hybridctl.planning.workload import Workload


def recommend_cmd(
    requests_per_day: Annotated[
        float | None, typer.Option("--requests-per-day", "-r", help="Expected requests a day.")
    ] = None,
    requests_per_minute: Annotated[
        float | None,
        typer.Option("--requests-per-minute", help="Or: average requests a minute."),
    ] = None,
    peak_factor: Annotated[float, typer.Option(help="Peak-hour rate over the average.")] = 3.0,
    complex_share: Annotated[
        float, typer.Option(help="Share of complex requests (0-1): multi-turn, analytical.")
    ] = 0.3,
    prompt_tokens: Annotated[int, typer.Option(help="Prompt tokens per request.")] = 300,
    response_tokens: Annotated[int, typer.Option(help="Response tokens per request.")] = 150,
    p95_latency: Annotated[
        float, typer.Option("--p95-latency", help="p95 latency target for local answers, seconds.")
    ] = 20.0,
    budget: Annotated[
        float | None, typer.Option(help="Monthly budget in USD (server + cloud spill).")
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", "-p", help="Allowed provider; repeat for several."),
    ] = None,
    local_only: Annotated[
        bool, typer.Option("--local-only", help="Privacy: no request may leave the box.")
    ] = False,
    max_nodes: Annotated[int, typer.Option(help="Allow up to N boxes behind a load balancer.")] = 1,
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Pick the cheapest tier x provider that carries your traffic, with the reasoning.

    Prints the chosen tier, provider and offer; the models served locally; the local share and
    cloud spill; capacity headroom and p95 latency at peak; the monthly bill beside a
    cloud-only bill, the savings and the break-even volume; and every tier x provider
    considered with the reason it lost. Exit 1 when no tier carries the traffic.

    Example: hybridctl recommend --requests-per-day 5000 --complex-share 0.3
    """
    workload = _workload(
        requests_per_day=requests_per_day,
        requests_per_minute=requests_per_minute,
        peak_factor=peak_factor,
        complex_share=complex_share,
        prompt_tokens=prompt_tokens,
        response_tokens=response_tokens,
        p95_latency_s=p95_latency,
        monthly_budget_usd=budget,
        providers=tuple(provider) if provider else ("hetzner", "aws", "gcp"),
        local_only=local_only,
        max_nodes=max_nodes,
    )
    cat = load_catalog(catalog)
    known = {offer.provider for tier in cat.tiers for offer in tier.offers}
    unknown = sorted(set(workload.providers) - known)
    if unknown:
        raise UsageError(
            f"unknown provider {', '.join(unknown)}",
            hint=f"Providers in the catalog: {', '.join(sorted(known))}.",
        )
    try:
        result = recommend(cat, workload)
    except NoFeasibleTier as exc:
        if json:
            print_json({"recommendation": None, "considered": _rows(exc.considered)})
        else:
            console.print(_considered_table(exc.considered))
        raise CheckFailed(
            "no tier x provider carries this traffic (see the reasons above)",
            hint="Allow more boxes with --max-nodes, or relax --p95-latency or --budget"
            + (
                ", or let complex requests go to the cloud (drop --local-only)."
                if local_only
                else "."
            ),
        ) from None
    if json:
        print_json(result.model_dump(mode="json"))
        return
    _print(result)


def _workload(**fields: object) -> Workload:
    per_day, per_minute = fields.pop("requests_per_day"), fields.pop("requests_per_minute")
    if (per_day is None) == (per_minute is None):
        raise UsageError(
            "give the expected traffic with exactly one of --requests-per-day or "
            "--requests-per-minute",
            hint="Example: hybridctl recommend --requests-per-day 5000",
        )
    fields["requests_per_day"] = per_day if per_day is not None else float(per_minute) * 1440  # type: ignore[arg-type]
    try:
        return Workload.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid workload: {problems}") from None


def _rows(considered: list[Candidate]) -> list[dict[str, object]]:
    return [c.model_dump(mode="json") for c in considered]


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _considered_table(considered: list[Candidate]) -> Table:
    table = Table(title="Every tier x provider considered", title_justify="left")
    for column in (
        "tier",
        "provider",
        "instance",
        "nodes",
        "local",
        "busy",
        "p95",
        "total/mo",
        "verdict",
    ):
        table.add_column(column)
    for c in considered:
        table.add_row(
            c.tier,
            c.provider,
            c.instance_type,
            str(c.nodes),
            "-" if c.local_share is None else f"{c.local_share:.0%}",
            "-" if c.utilization is None else f"{c.utilization:.0%}",
            "-" if c.p95_latency_s is None else f"{c.p95_latency_s:.1f} s",
            _money(c.hybrid_usd),
            ("[green]" if c.feasible else "[dim]") + c.reason + "[/]",
        )
    return table


def _print(r: Recommendation) -> None:
    w = r.workload
    nodes = f" x {r.nodes} behind a load balancer" if r.nodes > 1 else ""
    console.print(
        f"[bold]Recommendation:[/] Tier {r.tier} ({r.tier_name}) on {r.provider} "
        f"{r.instance_type}{nodes}, region {r.region}"
    )
    console.print(
        f"  traffic: {w.requests_per_day:,.0f} requests/day, peak x{w.peak_factor:g} "
        f"({w.peak_requests_per_s * 60:.1f}/min), {w.complex_share:.0%} complex, "
        f"{w.prompt_tokens}+{w.response_tokens} tokens"
    )
    for m in r.models:
        p95 = "-" if m.p95_latency_s is None else f"{m.p95_latency_s:.1f} s"
        console.print(
            f"  local {m.kind:<7} {m.model}: {m.share:.0%} of requests, "
            f"{m.tokens_per_s:g} tok/s, {m.single_request_s:.1f} s alone, p95 {p95} at peak"
        )
    console.print(
        f"  cloud spill: {r.medium_cloud_share:.0%} to {r.medium_route_model} (medium), "
        f"{r.large_cloud_share:.0%} to {r.large_route_model} (large)"
    )
    console.print(
        f"  capacity: {r.utilization:.0%} busy at peak, headroom {r.headroom:.0%}; "
        f"p95 latency {r.p95_latency_s:.1f} s (target {w.p95_latency_s:g} s)"
    )
    console.print(
        f"  monthly: server {_money(r.server_usd)} + cloud spill {_money(r.cloud_spill_usd)} "
        f"= [bold]{_money(r.hybrid_usd)}[/] vs cloud-only {_money(r.cloud_only_usd)} "
        f"({r.large_route_model} for everything)"
    )
    if r.savings_usd >= 0:
        console.print(f"  savings: {_money(r.savings_usd)}/month ({r.savings_fraction:.0%})")
    else:
        console.print(
            f"  [yellow]cloud-only is cheaper at this volume by {_money(-r.savings_usd)}/month[/]"
        )
    if r.break_even_requests_per_day is not None:
        console.print(
            f"  break-even: the box pays for itself from {r.break_even_requests_per_day:,.0f} "
            "requests/day"
        )
    console.print(f"  {r.guide_note}", soft_wrap=True)
    console.print(_considered_table(r.considered))
