"""`cost`'s answer: recommend's plan for a guide scenario's traffic, beside the guide's sums."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog.schema import Catalog, CostScenario, Tier
from hybridctl.planning.cost import ScenarioResult, scenario_result
from hybridctl.planning.recommend import recommend
from hybridctl.planning.results import Candidate, Recommendation
from hybridctl.planning.workload import DAYS_PER_MONTH, Workload


def scenario_workload(requests_per_month: float, local_share: float) -> Workload:
    """The traffic a guide scenario describes, as `recommend` reads it: the requests a day, and
    the requests the guide does not serve locally as the complex ones; every other input at
    recommend's defaults."""
    return Workload(
        requests_per_day=requests_per_month / DAYS_PER_MONTH,
        complex_share=min(1.0, max(0.0, 1 - local_share)),
    )


@dataclass(frozen=True)
class ScenarioVerdict:
    """One scenario: the plan's bill and verdict (recommend's), the guide's figures, and why the
    two differ."""

    guide: ScenarioResult
    workload: Workload
    plan: Recommendation
    tier_option: Candidate | None  # the scenario tier's cheapest option (feasible first)
    tier_price_as_of: str | None
    differences: list[str]

    @property
    def box_pays(self) -> bool:
        """recommend's own answer: a box beats the cloud for this traffic."""
        return self.plan.verdict.answer == "hybrid"

    @property
    def equivalent_command(self) -> str:
        w = self.workload
        return (
            f"hybridctl recommend --requests-per-day {w.requests_per_day:g} "
            f"--complex-share {w.complex_share:g}"
        )

    def as_dict(self) -> dict[str, object]:
        option = self.tier_option
        return {
            "name": self.guide.name,
            "tier": self.guide.tier,
            "requests_per_month": self.guide.requests_per_month,
            "box_pays": self.box_pays,
            "verdict": self.plan.verdict.headline,
            "cloud_only_usd": self.plan.verdict.cloud_only_usd,
            "best_hybrid_usd": self.plan.verdict.hybrid_usd,
            "tier_option": option.model_dump(mode="json") if option else None,
            "tier_price_as_of": self.tier_price_as_of,
            "same_as": self.equivalent_command,
            "differences": self.differences,
            "guide": self.guide.__dict__,
        }


def _tier_option(plan: Recommendation, tier_id: str) -> Candidate | None:
    rows = [c for c in plan.considered if c.tier == tier_id and c.hybrid_usd is not None]
    feasible = [c for c in rows if c.feasible]
    if feasible:
        return min(feasible, key=lambda c: c.hybrid_usd or 0.0)
    capped = [c for c in rows if c.reason.startswith("nodes:")]
    return min(capped or rows, key=lambda c: c.hybrid_usd or 0.0) if rows else None


def _price_as_of(tier: Tier, option: Candidate | None) -> str | None:
    if option is None:
        return None
    for offer in tier.offers:
        if offer.provider == option.provider and offer.instance_type == option.instance_type:
            return offer.price_source.as_of
    return None


def _differences(
    catalog: Catalog, scenario: CostScenario, guide: ScenarioResult, v: Recommendation
) -> list[str]:
    tier = catalog.tier(scenario.tier)
    option = _tier_option(v, scenario.tier)
    found = []
    guide_share = guide.local_requests / guide.requests_per_month if guide.requests_per_month else 0
    if option is not None:
        found.append(
            f"server: the guide's column has ${guide.server_usd:,.2f} (a figure from its text, or "
            f"--server-usd); the plan pays ${option.server_usd:,.2f} for {option.label}, the "
            "catalog's offer priced from the provider's list"
        )
        if option.local_share is not None:
            found.append(
                f"local share: the guide assumes {guide_share:.0%}; the plan serves "
                f"{option.local_share:.0%} locally, the requests the router sends to the tier's "
                f"models (the tier guide promises {tier.promises.local_share:.0%})"
            )
    per_request = v.verdict.cloud_only_usd / guide.requests_per_month
    found.append(
        f"cloud price: the guide charges a flat ${scenario.complex_usd_per_request:g} per complex "
        f"and ${scenario.simple_usd_per_request:g} per simple request; the plan prices each "
        f"request from the routed cloud models' token prices: ${per_request:,.4f} a request on "
        "the cloud alone"
    )
    return found


def scenario_verdict(
    catalog: Catalog,
    scenario: CostScenario,
    *,
    requests_per_month: float | None = None,
    local_share: float | None = None,
    server_usd: float | None = None,
) -> ScenarioVerdict:
    """The plan `recommend` makes for the scenario's traffic (its verdict is this answer's), with
    the guide's arithmetic recomputed beside it; the overrides change both, except server_usd,
    which is the guide's column only (the plan prices the catalog's offers)."""
    guide = scenario_result(
        scenario,
        requests_per_month=requests_per_month,
        local_share=local_share,
        server_usd=server_usd,
    )
    share = local_share if local_share is not None else scenario.local_share
    workload = scenario_workload(guide.requests_per_month, share)
    plan = recommend(catalog, workload)
    option = _tier_option(plan, scenario.tier)
    return ScenarioVerdict(
        guide=guide,
        workload=workload,
        plan=plan,
        tier_option=option,
        tier_price_as_of=_price_as_of(catalog.tier(scenario.tier), option),
        differences=_differences(catalog, scenario, guide, plan),
    )
