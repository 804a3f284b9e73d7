"""Every tier x offer as an option: its cheapest way to carry a workload, or why it cannot."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridctl.catalog.schema import Catalog, Offer, Tier
from hybridctl.planning.capacity import (
    MAX_UTILIZATION,
    ModelSpeed,
    TierLoad,
    latency_problem,
    min_nodes,
    tier_load,
    tier_speeds,
)
from hybridctl.planning.cost import Bill, CloudSpend, bill_of, cloud_only_spend, cloud_spend
from hybridctl.planning.results import Candidate
from hybridctl.planning.workload import Workload
from hybridctl.providers.names import CLOUDS


@dataclass(frozen=True)
class Option:
    """A candidate with the load and bill behind it."""

    candidate: Candidate
    load: TierLoad
    bill: Bill


class Speeds:
    """Speed predictions per tier, worked out once per recommendation (they do not vary)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._by_tier: dict[str, dict[str, ModelSpeed]] = {}

    def __call__(self, tier: Tier) -> dict[str, ModelSpeed]:
        if tier.id not in self._by_tier:
            self._by_tier[tier.id] = tier_speeds(self._catalog, tier)
        return self._by_tier[tier.id]


def _offer_rejection(offer: Offer, workload: Workload) -> str | None:
    if offer.provider not in workload.providers:
        return "provider not allowed"
    if offer.reference_only:
        return f"price reference only (deployable: {', '.join(CLOUDS)})"
    return None


def _option(
    offer: Offer,
    workload: Workload,
    load: TierLoad,
    tier: Tier,
    spill: CloudSpend,
    cloud: CloudSpend,
) -> Option:
    server_usd = offer.monthly_usd * load.nodes
    bill = bill_of(server_usd, spill, cloud)
    reason = _offer_rejection(offer, workload) or latency_problem(load, workload)
    if reason is None and load.nodes > workload.max_nodes:
        reason = f"nodes: needs {load.nodes:,} boxes > --max-nodes {workload.max_nodes:,}"
    budget = workload.monthly_budget_usd
    if reason is None and budget is not None and bill.hybrid_usd > budget:
        reason = f"budget: ${bill.hybrid_usd:,.2f} > ${budget:,.2f}"
    p95 = load.worst_p95_s
    candidate = Candidate(
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
    return Option(candidate, load, bill)


def tier_options(
    catalog: Catalog,
    tier: Tier,
    workload: Workload,
    speeds: Speeds,
    cloud: CloudSpend | None = None,
) -> list[Option]:
    """One option per offer: its cheapest way to run the tier (with or without the complex model
    on complex requests, on the fewest boxes that carry it), or the most telling failure.

    cloud: the workload's cloud-only spend, when the caller has it already."""
    if cloud is None:
        cloud = cloud_only_spend(catalog, workload)
    loads = [
        min_nodes(catalog, tier, workload, serve_complex=serve, speeds=speeds(tier))
        for serve in (True, False)
    ]
    spills = [cloud_spend(catalog, workload, ld.medium_share, ld.large_share) for ld in loads]
    options = []
    for offer in tier.offers:
        scored = [
            _option(offer, workload, load, tier, spill, cloud)
            for load, spill in zip(loads, spills, strict=True)
        ]
        feasible = [o for o in scored if o.candidate.feasible]
        if feasible:
            options.append(min(feasible, key=lambda o: (o.bill.hybrid_usd, o.load.nodes)))
            continue
        # Past the ceiling only: say what it would take; otherwise the most generous variant.
        capped = [o for o in scored if o.candidate.reason.startswith("nodes:")]
        options.append(min(capped, key=lambda o: o.bill.hybrid_usd) if capped else scored[0])
    return options


def all_options(catalog: Catalog, workload: Workload, speeds: Speeds) -> list[Option]:
    cloud = cloud_only_spend(catalog, workload)
    return [
        o for tier in catalog.tiers for o in tier_options(catalog, tier, workload, speeds, cloud)
    ]


def cheapest(options: list[Option], catalog: Catalog) -> Option | None:
    order = {tier_id: i for i, tier_id in enumerate(catalog.tier_ids)}
    feasible = [o for o in options if o.candidate.feasible]
    if not feasible:
        return None
    return min(
        feasible,
        key=lambda o: (o.bill.hybrid_usd, order[o.candidate.tier], o.candidate.server_usd),
    )


# Utilisation is linear in volume; scaling one worked-out figure is exact to a few ulps, so a
# node count taken from it is shaved by this much to stay a lower bound.
_SCALED_MARGIN = 1e-9


@dataclass(frozen=True)
class _Sized:
    """One tier x complex-handling at one box: what every volume of a traffic shape shares."""

    tier: Tier
    serve_complex: bool
    prices: list[float]  # the tier's allowed offers, per box and month
    one_box: TierLoad  # at the shape's own volume
    utilization_per_request: float  # one box's peak utilisation per request a day

    @property
    def shares(self) -> tuple[float, float]:
        """The medium and large route shares of the spill (the same at every volume)."""
        return (self.one_box.medium_share, self.one_box.large_share)


class Beats:
    """Whether some option carries a traffic shape, at a given volume, for less than a price a
    month: the same answer as cheapest(all_options(...)) costing less, for many volumes.

    A tier is skipped at a volume when even its cheapest allowed offer, on the fewest boxes its
    one-box utilisation allows (min_nodes never finds a feasible count below it), plus its
    cloud spill, does not cost less; the others are sized and priced as tier_options does.
    """

    def __init__(self, catalog: Catalog, shape: Workload, speeds: Speeds) -> None:
        self._catalog, self._shape, self._speeds = catalog, shape, speeds
        self._sized: list[_Sized] = []
        for tier in catalog.tiers:
            prices = [o.monthly_usd for o in tier.offers if _offer_rejection(o, shape) is None]
            for serve in (True, False) if prices else ():
                one = tier_load(catalog, tier, shape, serve_complex=serve, speeds=speeds(tier))
                # A role or --quality problem holds at every volume; so does an endless request.
                # The same split either way (no complex model) sizes the same at every volume.
                if one.problems or not math.isfinite(one.utilization):
                    continue
                if not any(s.tier is tier and s.one_box == one for s in self._sized):
                    per_request = one.utilization / shape.requests_per_day
                    self._sized.append(_Sized(tier, serve, prices, one, per_request))

    def __call__(self, requests_per_day: float, price_usd: float) -> bool:
        catalog, workload = self._catalog, self._shape.at_volume(requests_per_day)
        spills: dict[tuple[float, float], float] = {}

        def spill_usd(key: tuple[float, float]) -> float:
            if key not in spills:
                spills[key] = cloud_spend(catalog, workload, *key).monthly_usd
            return spills[key]

        budget = workload.monthly_budget_usd
        for sized in self._sized:
            utilization = sized.utilization_per_request * requests_per_day
            fewest = max(1, math.ceil(utilization / MAX_UTILIZATION * (1 - _SCALED_MARGIN)))
            if fewest > workload.max_nodes:
                continue
            boxes = min(sized.prices) * fewest
            if not boxes < price_usd:  # cloud prices are never negative: neither is a spill
                continue
            floor = boxes + spill_usd(sized.shares)
            if not floor < price_usd or (budget is not None and floor > budget):
                continue
            tier, serve = sized.tier, sized.serve_complex
            load = min_nodes(
                catalog, tier, workload, serve_complex=serve, speeds=self._speeds(tier)
            )
            if latency_problem(load, workload) is not None or load.nodes > workload.max_nodes:
                continue
            for price in sized.prices:
                hybrid = price * load.nodes + spill_usd((load.medium_share, load.large_share))
                if hybrid < price_usd and (budget is None or hybrid <= budget):
                    return True
        return False
