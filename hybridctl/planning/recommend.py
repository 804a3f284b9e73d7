"""Whether a box beats the cloud, the cheapest tier and provider to carry it, why others lost."""

from __future__ import annotations

from hybridctl.catalog.schema import Catalog
from hybridctl.planning.capacity import latency_problem, tier_load
from hybridctl.planning.cost import cloud_only_spend
from hybridctl.planning.guide import guide_note, workload_decision
from hybridctl.planning.options import Option, Speeds, all_options, cheapest
from hybridctl.planning.results import (
    Candidate,
    CloudPlan,
    HybridPlan,
    LocalModelPlan,
    NoFeasiblePlan,
    Recommendation,
)
from hybridctl.planning.router_share import router_share
from hybridctl.planning.verdict import verdict
from hybridctl.planning.workload import MAX_REQUESTS_PER_DAY, Workload

CHOSEN = "chosen: cheapest that carries it"


def recommend(catalog: Catalog, workload: Workload) -> Recommendation:
    """The verdict (box or cloud) and the cheapest feasible tier x provider by monthly total.

    Raises NoFeasiblePlan when the cloud is ruled out (local-only, or over the budget) and no
    box carries the workload either.
    """
    catalog.routing.curve_for(workload.traffic)  # an unknown kind of traffic: exit 2 first
    speeds = Speeds(catalog)
    options = all_options(catalog, workload, speeds)
    best = cheapest(options, catalog)
    considered: list[Candidate] = []
    for option in options:
        c = option.candidate
        considered.append(c.model_copy(update={"reason": CHOSEN}) if option is best else c)
    for tier in catalog.tiers:
        for gone in tier.unavailable:
            considered.append(
                Candidate(
                    tier=tier.id,
                    provider=gone.provider,
                    instance_type="-",
                    region="-",
                    server_usd=0,
                    feasible=False,
                    reason=f"unavailable: {gone.reason}",
                )
            )
    cloud = cloud_only_spend(catalog, workload)
    answer = verdict(catalog, workload, best, options, cloud.monthly_usd, speeds)
    guide_tier, guide_reason = workload_decision(workload)
    chosen_tier = best.candidate.tier if best and answer.answer == "hybrid" else None
    result = Recommendation(
        workload=workload,
        verdict=answer,
        cloud_only=CloudPlan.of(cloud, workload),
        hybrid=_hybrid_plan(catalog, workload, best) if best else None,
        guide_tier=guide_tier,
        guide_note=guide_note(guide_tier, guide_reason, chosen_tier, considered, cloud.monthly_usd),
        considered=considered,
        prices_as_of=catalog.price_snapshot.as_of if catalog.price_snapshot else None,
    )
    result = result.model_copy(update={"next_step": next_step(result)})
    budget = workload.monthly_budget_usd
    if best is None and workload.local_only:
        raise NoFeasiblePlan(result, "no tier x provider carries this traffic on its own boxes")
    if best is None and budget is not None and cloud.monthly_usd > budget:
        raise NoFeasiblePlan(
            result,
            f"no box fits the budget and the cloud alone costs ${cloud.monthly_usd:,.2f} "
            f"> ${budget:,.2f}",
        )
    return result


def next_step(r: Recommendation) -> str:
    """What to run after this answer: the deploy preview of the chosen box, or staying on the
    cloud (and from which volume to ask again)."""
    h = r.hybrid
    if r.verdict.answer == "hybrid" and h is not None:
        nodes = f" --nodes {h.nodes}" if h.nodes > 1 else ""
        return (
            f"hybridctl deploy --tier {h.tier} --provider {h.provider}{nodes} --plan "
            "(an offline preview; drop --plan to create it)"
        )
    if r.verdict.answer == "cloud":
        again = r.verdict.hybrid_pays_from_requests_per_day
        when = (
            f"; run `hybridctl recommend` again past {again:,.0f} requests/day, where a box pays"
            if again
            else ""
        )
        return f"stay on the cloud: send requests to the cloud APIs (no box to deploy){when}"
    return "no box carries this traffic on its own: relax --local-only or the latency targets"


def _hybrid_plan(catalog: Catalog, workload: Workload, option: Option) -> HybridPlan:
    c, load, bill = option.candidate, option.load, option.bill
    tier = catalog.tier(c.tier)
    return HybridPlan(
        tier=tier.id,
        tier_name=tier.name,
        provider=c.provider,
        instance_type=c.instance_type,
        region=c.region,
        nodes=load.nodes,
        models=[
            LocalModelPlan(
                kind=p.kind,
                model=p.model,
                share=p.share,
                tokens_per_s=p.speed.generation_tokens_per_s,
                prompt_tokens_per_s=p.speed.prompt_tokens_per_s,
                parallel_gain=p.speed.full_gain,
                slots=p.speed.slots,
                single_request_s=p.single_request_s,
                p95_latency_s=p.p95_latency_s,
                first_token_p95_s=p.first_token_p95_s,
                speed_source=p.speed.source,
                speed_detail=p.speed.detail,
            )
            for p in load.paths
        ],
        local_share=load.local_share,
        utilization=load.utilization,
        headroom=load.headroom,
        concurrency=load.concurrency,
        p95_latency_s=load.worst_p95_s,
        first_token_p95_s=load.worst_first_token_s,
        server_usd=bill.server_usd,
        spill=CloudPlan.of(bill.spill, workload),
        hybrid_usd=bill.hybrid_usd,
        savings_usd=bill.savings_usd,
        savings_fraction=bill.savings_fraction,
        break_even_requests_per_day=_carried_break_even(catalog, workload, option),
        router=router_share(catalog, tier, load.serves_complex, workload.traffic),
    )


def _carried_break_even(catalog: Catalog, workload: Workload, option: Option) -> float | None:
    """The option's break-even volume, if the same boxes still carry the traffic there."""
    volume = option.bill.break_even_requests_per_day
    if volume is None or volume > MAX_REQUESTS_PER_DAY:
        return None
    load = option.load
    there = tier_load(
        catalog,
        catalog.tier(option.candidate.tier),
        workload.at_volume(volume),
        serve_complex=load.serves_complex,
        nodes=load.nodes,
    )
    return volume if latency_problem(there, workload) is None else None
