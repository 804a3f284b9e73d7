"""Money: cloud prices per request, hybrid against cloud-only bills, the guide's cost scenarios."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog.schema import Catalog, CloudModel, CostScenario, RouteName
from hybridctl.planning.workload import DAYS_PER_MONTH, Workload


def request_cost_usd(model: CloudModel, prompt_tokens: int, response_tokens: int) -> float:
    return (
        prompt_tokens * model.input_usd_per_mtok + response_tokens * model.output_usd_per_mtok
    ) / 1e6


def route_model(catalog: Catalog, route: RouteName) -> tuple[str, CloudModel]:
    """The route's first choice: the model a request on that route goes to first."""
    names = catalog.routing.routes.get(route) or [
        name for name, model in catalog.cloud_models.items() if model.route == route
    ]
    return names[0], catalog.cloud_models[names[0]]


def route_cost_usd(catalog: Catalog, route: RouteName, workload: Workload) -> float:
    _, model = route_model(catalog, route)
    return request_cost_usd(model, workload.prompt_tokens, workload.response_tokens)


@dataclass(frozen=True)
class Bill:
    """A month of the hybrid box against the same traffic sent to the cloud only."""

    server_usd: float
    cloud_spill_usd: float
    cloud_only_usd: float
    break_even_requests_per_day: float | None

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
    """Cloud-only sends everything to the large route; hybrid only what the box does not serve."""
    large = route_cost_usd(catalog, "large", workload)
    medium = route_cost_usd(catalog, "medium", workload)
    per_request_hybrid = medium_share * medium + large_share * large
    per_request_saving = large - per_request_hybrid
    break_even = (
        server_usd / (DAYS_PER_MONTH * per_request_saving) if per_request_saving > 0 else None
    )
    return Bill(
        server_usd=server_usd,
        cloud_spill_usd=workload.requests_per_month * per_request_hybrid,
        cloud_only_usd=workload.requests_per_month * large,
        break_even_requests_per_day=break_even,
    )


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
