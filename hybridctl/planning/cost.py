"""Money: cloud prices per request, hybrid against cloud-only bills, the guide's cost scenarios."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog.route_mix import RouteMix, route_mix
from hybridctl.catalog.schema import Catalog, CloudModel, CostScenario
from hybridctl.planning.workload import DAYS_PER_MONTH, Workload


def request_cost_usd(model: CloudModel, prompt_tokens: int, response_tokens: int) -> float:
    return (
        prompt_tokens * model.input_usd_per_mtok + response_tokens * model.output_usd_per_mtok
    ) / 1e6


def route_request_mix(catalog: Catalog, route: str, requests_per_day: float) -> RouteMix:
    """The route's mix at that many requests a day on it; an empty route falls to the next one
    in the router's chain (medium -> large), as the gateway's fallbacks do."""
    mix = route_mix(catalog, route, requests_per_day)
    if not mix.members and route == "medium":
        return route_mix(catalog, "large", requests_per_day)
    return mix


@dataclass(frozen=True)
class CloudSpend:
    """A month of cloud requests split between the medium and large routes, priced as routed."""

    medium_share: float
    large_share: float
    medium: RouteMix
    large: RouteMix
    per_request_usd: float
    monthly_usd: float


def cloud_spend(
    catalog: Catalog, workload: Workload, medium_share: float, large_share: float
) -> CloudSpend:
    day = workload.requests_per_day
    medium = route_request_mix(catalog, "medium", day * medium_share)
    large = route_request_mix(catalog, "large", day * large_share)
    tokens = (workload.prompt_tokens, workload.response_tokens)
    per_request = medium_share * medium.request_usd(*tokens) + large_share * large.request_usd(
        *tokens
    )
    return CloudSpend(
        medium_share,
        large_share,
        medium,
        large,
        per_request,
        per_request * workload.requests_per_month,
    )


def cloud_only_spend(catalog: Catalog, workload: Workload) -> CloudSpend:
    """The same gateway with no box: each request goes to the cloud route its complexity needs
    (small and medium ones to medium, the rest to large); or, with the `large` baseline, every
    request on the large route."""
    if workload.cloud_baseline == "large":
        return cloud_spend(catalog, workload, 0.0, 1.0)
    return cloud_spend(catalog, workload, 1 - workload.large_need, workload.large_need)


@dataclass(frozen=True)
class Bill:
    """A month of the hybrid box against the same traffic sent to the cloud only."""

    server_usd: float
    spill: CloudSpend
    cloud_only: CloudSpend
    break_even_requests_per_day: float | None

    @property
    def cloud_spill_usd(self) -> float:
        return self.spill.monthly_usd

    @property
    def cloud_only_usd(self) -> float:
        return self.cloud_only.monthly_usd

    @property
    def hybrid_usd(self) -> float:
        return self.server_usd + self.cloud_spill_usd

    @property
    def savings_usd(self) -> float:
        return self.cloud_only_usd - self.hybrid_usd

    @property
    def savings_fraction(self) -> float:
        return self.savings_usd / self.cloud_only_usd if self.cloud_only_usd else 0.0


def monthly_bill(
    catalog: Catalog,
    workload: Workload,
    server_usd: float,
    medium_share: float,
    large_share: float,
) -> Bill:
    """The hybrid bill (server + what the box does not answer) and the cloud-only bill.

    break_even_requests_per_day: the volume at which this server's price equals what it saves
    per request at the present route mix (the servers fixed; capacity not checked).
    """
    spill = cloud_spend(catalog, workload, medium_share, large_share)
    return bill_of(server_usd, spill, cloud_only_spend(catalog, workload))


def bill_of(server_usd: float, spill: CloudSpend, cloud_only: CloudSpend) -> Bill:
    """monthly_bill from spends already worked out (a planner prices many servers against the
    same spill and the same cloud-only bill)."""
    saving = cloud_only.per_request_usd - spill.per_request_usd
    break_even = server_usd / (DAYS_PER_MONTH * saving) if saving > 0 else None
    return Bill(server_usd, spill, cloud_only, break_even)


@dataclass(frozen=True)
class ScenarioResult:
    """One of the tier guide's Cost-Benefit tables, recomputed."""

    name: str
    tier: str
    requests_per_month: float
    local_requests: float
    cloud_requests: float
    server_usd: float
    complex_api_usd: float
    simple_api_usd: float
    cloud_only_usd: float
    hybrid_usd: float
    savings_usd: float
    savings_pct: float
    roi_x: float


def scenario_result(
    scenario: CostScenario,
    *,
    requests_per_month: float | None = None,
    local_share: float | None = None,
    server_usd: float | None = None,
) -> ScenarioResult:
    """The guide's arithmetic: local requests cost nothing beyond the server; complex ones stay
    in the cloud at the complex rate; cloud-only pays both rates for everything."""
    total = requests_per_month if requests_per_month is not None else scenario.requests_per_month
    share = local_share if local_share is not None else scenario.local_share
    server = server_usd if server_usd is not None else scenario.server_usd
    local = total * share
    cloud = total - local
    complex_usd = cloud * scenario.complex_usd_per_request
    simple_usd = local * scenario.simple_usd_per_request
    cloud_only = complex_usd + simple_usd
    hybrid = server + complex_usd
    savings = cloud_only - hybrid
    return ScenarioResult(
        name=scenario.name,
        tier=scenario.tier,
        requests_per_month=total,
        local_requests=local,
        cloud_requests=cloud,
        server_usd=server,
        complex_api_usd=complex_usd,
        simple_api_usd=simple_usd,
        cloud_only_usd=cloud_only,
        hybrid_usd=hybrid,
        savings_usd=savings,
        savings_pct=100 * savings / cloud_only if cloud_only else 0.0,
        roi_x=savings / server if server else 0.0,
    )
