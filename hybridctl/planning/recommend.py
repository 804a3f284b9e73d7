"""Pick the cheapest tier and provider that carries a workload, and say why every other lost."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

from hybridctl.catalog.schema import DEPLOYABLE_PROVIDERS, Catalog, Offer, Tier
from hybridctl.planning.capacity import MAX_UTILIZATION, TierLoad, tier_load
from hybridctl.planning.cost import monthly_bill, route_model
from hybridctl.planning.workload import Workload


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class LocalModelPlan(Result):
    kind: str
    model: str
    share: float
    tokens_per_s: float
    single_request_s: float
    p95_latency_s: float | None


class Candidate(Result):
    """One tier x provider that was considered."""

    tier: str
    provider: str
    instance_type: str
    region: str
    server_usd: float
    nodes: int = 1
    serves_complex: bool = False
    local_share: float | None = None
    utilization: float | None = None
    p95_latency_s: float | None = None
    hybrid_usd: float | None = None
    feasible: bool
    reason: str


class Recommendation(Result):
    workload: Workload
    tier: str
    tier_name: str
    provider: str
    instance_type: str
    region: str
    nodes: int
    models: list[LocalModelPlan]
    local_share: float
    medium_cloud_share: float
    large_cloud_share: float
    medium_route_model: str
    large_route_model: str
    utilization: float
    headroom: float
    concurrency: int
    p95_latency_s: float
    server_usd: float
    cloud_spill_usd: float
    hybrid_usd: float
    cloud_only_usd: float
    savings_usd: float
    savings_fraction: float
    break_even_requests_per_day: float | None
    guide_tier: str
    guide_note: str
    considered: list[Candidate]


class NoFeasibleTier(Exception):
    """No tier x provider carries the workload; carries every candidate and its reason."""

    def __init__(self, considered: list[Candidate]) -> None:
        super().__init__("no tier carries this workload")
        self.considered = considered


def guide_decision(requests_per_day: float) -> tuple[str, str]:
    """The tier guide's decision tree (000, 'Tier Selection Decision Tree')."""
    if requests_per_day < 50:
        return "2", "under 50 requests/day: Tier 1 if just learning, Tier 2 for production"
    if requests_per_day <= 500:
        return "2", "50-500 requests/day: Tier 2"
    if requests_per_day <= 5000:
        return "3", "500-5,000 requests/day: Tier 3"
    return "4", "over 5,000 requests/day: Tier 4"


def _offer_rejection(tier: Tier, offer: Offer, workload: Workload) -> str | None:
    if offer.provider not in workload.providers:
        return "provider not allowed"
    if offer.reference_only:
        return f"price reference only (deployable: {', '.join(DEPLOYABLE_PROVIDERS)})"
    return None


def _load_rejection(load: TierLoad, workload: Workload) -> str | None:
    if load.problems:
        return "; ".join(load.problems)
    if load.utilization > MAX_UTILIZATION:
        return f"capacity: {load.utilization:.0%} busy > {MAX_UTILIZATION:.0%}"
    if load.worst_p95_s > workload.p95_latency_s:
        return f"latency: p95 {load.worst_p95_s:.1f} s > {workload.p95_latency_s:g} s"
    return None


def _candidate(
    catalog: Catalog, tier: Tier, offer: Offer, workload: Workload, load: TierLoad
) -> Candidate:
    server_usd = offer.monthly_usd * load.nodes
    bill = monthly_bill(catalog, workload, server_usd, load.medium_share, load.large_share)
    reason = _offer_rejection(tier, offer, workload) or _load_rejection(load, workload)
    budget = workload.monthly_budget_usd
    if reason is None and budget is not None and bill.hybrid_usd > budget:
        reason = f"budget: ${bill.hybrid_usd:,.2f} > ${budget:,.2f}"
    p95 = load.worst_p95_s
    return Candidate(
        tier=tier.id,
        provider=offer.provider,
        instance_type=offer.instance_type,
        region=offer.region,
        server_usd=server_usd,
        nodes=load.nodes,
        serves_complex=load.serves_complex,
        local_share=load.local_share,
        utilization=load.utilization,
        p95_latency_s=p95 if math.isfinite(p95) else None,
        hybrid_usd=bill.hybrid_usd,
        feasible=reason is None,
        reason=reason or "carries the workload",
    )


def recommend(catalog: Catalog, workload: Workload) -> Recommendation:
    """The cheapest feasible tier x provider by monthly total (server + cloud spill)."""
    considered: list[Candidate] = []
    loads: dict[tuple[str, str], TierLoad] = {}
    for tier in catalog.tiers:
        variants = _load_variants(catalog, tier, workload)
        for offer in tier.offers:
            candidate, load = _best_variant(catalog, tier, offer, workload, variants)
            considered.append(candidate)
            loads[(tier.id, offer.provider)] = load
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
    order = {tier_id: i for i, tier_id in enumerate(catalog.tier_ids)}
    feasible = [c for c in considered if c.feasible]
    if not feasible:
        raise NoFeasibleTier(considered)
    best = min(feasible, key=lambda c: (c.hybrid_usd, order[c.tier], c.server_usd))
    chosen = next(c for c in considered if c is best)
    considered = [
        c.model_copy(update={"reason": "chosen: cheapest that carries it"}) if c is best else c
        for c in considered
    ]
    load = loads[(chosen.tier, chosen.provider)]
    return _recommendation(catalog, workload, chosen, load, considered)


def _load_variants(catalog: Catalog, tier: Tier, workload: Workload) -> list[TierLoad]:
    """Ways to run the tier: with or without its large model on complex requests, on 1..N nodes.

    When no variant works, the shortfall reported is that of the most generous one: complex
    requests served locally where the tier can, on the most nodes allowed.
    """
    variants = []
    for serve_complex in (True, False):
        for nodes in range(1, workload.max_nodes + 1):
            variants.append(
                tier_load(catalog, tier, workload, serve_complex=serve_complex, nodes=nodes)
            )
    return variants


def _best_variant(
    catalog: Catalog, tier: Tier, offer: Offer, workload: Workload, variants: list[TierLoad]
) -> tuple[Candidate, TierLoad]:
    scored = [(_candidate(catalog, tier, offer, workload, load), load) for load in variants]
    feasible = [pair for pair in scored if pair[0].feasible]
    if feasible:
        return min(feasible, key=lambda pair: (pair[0].hybrid_usd or 0.0, pair[1].nodes))
    return scored[workload.max_nodes - 1]


def _recommendation(
    catalog: Catalog,
    workload: Workload,
    chosen: Candidate,
    load: TierLoad,
    considered: list[Candidate],
) -> Recommendation:
    tier = catalog.tier(chosen.tier)
    bill = monthly_bill(catalog, workload, chosen.server_usd, load.medium_share, load.large_share)
    nodes = load.nodes
    guide_tier, guide_reason = guide_decision(workload.requests_per_day)
    return Recommendation(
        workload=workload,
        tier=tier.id,
        tier_name=tier.name,
        provider=chosen.provider,
        instance_type=chosen.instance_type,
        region=chosen.region,
        nodes=nodes,
        models=[
            LocalModelPlan(
                kind=p.kind,
                model=p.model,
                share=p.share,
                tokens_per_s=p.tokens_per_s,
                single_request_s=p.single_request_s,
                p95_latency_s=p.p95_latency_s,
            )
            for p in load.paths
        ],
        local_share=load.local_share,
        medium_cloud_share=load.medium_share,
        large_cloud_share=load.large_share,
        medium_route_model=route_model(catalog, "medium")[0],
        large_route_model=route_model(catalog, "large")[0],
        utilization=load.utilization,
        headroom=load.headroom,
        concurrency=load.concurrency,
        p95_latency_s=load.worst_p95_s,
        server_usd=bill.server_usd,
        cloud_spill_usd=bill.cloud_spill_usd,
        hybrid_usd=bill.hybrid_usd,
        cloud_only_usd=bill.cloud_only_usd,
        savings_usd=bill.savings_usd,
        savings_fraction=bill.savings_fraction,
        break_even_requests_per_day=bill.break_even_requests_per_day,
        guide_tier=guide_tier,
        guide_note=_guide_note(guide_tier, guide_reason, tier, considered),
        considered=considered,
    )


def _guide_note(
    guide_tier: str, guide_reason: str, chosen: Tier, considered: list[Candidate]
) -> str:
    if guide_tier == chosen.id:
        return f"The tier guide's decision tree agrees ({guide_reason})."
    guide_rows = [c for c in considered if c.tier == guide_tier and c.feasible]
    if not guide_rows:
        why = next(
            (
                c.reason
                for c in considered
                if c.tier == guide_tier and c.reason.startswith(("capacity", "latency", "budget"))
            ),
            "it has no feasible offer",
        )
        return (
            f"The tier guide's decision tree picks Tier {guide_tier} ({guide_reason}), "
            f"but it does not carry this workload: {why}."
        )
    cheapest = min(guide_rows, key=lambda c: c.hybrid_usd or 0)
    return (
        f"The tier guide's decision tree picks Tier {guide_tier} ({guide_reason}); it also "
        f"carries the workload, but costs ${cheapest.hybrid_usd:,.2f}/month on its cheapest "
        f"provider ({cheapest.provider}) against ${considered_cost(considered, chosen.id):,.2f} "
        f"for Tier {chosen.id}."
    )


def considered_cost(considered: list[Candidate], tier_id: str) -> float:
    costs = [c.hybrid_usd for c in considered if c.tier == tier_id and c.feasible and c.hybrid_usd]
    return min(costs, default=0.0)
