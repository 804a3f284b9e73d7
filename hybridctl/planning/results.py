"""What `recommend` answers, as data: the verdict, the hybrid plan, the cloud-only bill."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from hybridctl.catalog.route_mix import RouteMix
from hybridctl.planning.cost import CloudSpend
from hybridctl.planning.router_share import RouterShare
from hybridctl.planning.workload import Workload


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class LocalModelPlan(Result):
    kind: str
    model: str
    share: float
    tokens_per_s: float
    prompt_tokens_per_s: float
    parallel_gain: float
    slots: int
    single_request_s: float
    p95_latency_s: float | None
    first_token_p95_s: float | None
    speed_source: str  # measured | derived | claimed (hybridctl.planning.speed)
    speed_detail: str


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

    @property
    def label(self) -> str:
        boxes = f" x {self.nodes}" if self.nodes > 1 else ""
        return f"Tier {self.tier} on {self.provider} {self.instance_type}{boxes}"


class MixMemberPlan(Result):
    name: str
    share: float
    input_usd_per_mtok: float
    output_usd_per_mtok: float


class RoutePlan(Result):
    """One cloud route as the gateway spreads it, and what a request there costs."""

    route: str
    share: float  # of all requests
    requests_per_day: float
    usd_per_request: float
    members: list[MixMemberPlan]

    @classmethod
    def of(cls, mix: RouteMix, share: float, workload: Workload) -> RoutePlan:
        return cls(
            route=mix.route,
            share=share,
            requests_per_day=share * workload.requests_per_day,
            usd_per_request=mix.request_usd(workload.prompt_tokens, workload.response_tokens),
            members=[
                MixMemberPlan(
                    name=m.name,
                    share=m.share,
                    input_usd_per_mtok=m.model.input_usd_per_mtok,
                    output_usd_per_mtok=m.model.output_usd_per_mtok,
                )
                for m in mix.members
            ],
        )


class CloudPlan(Result):
    """Requests priced on the cloud routes: the medium and large route mixes."""

    monthly_usd: float
    medium: RoutePlan
    large: RoutePlan

    @classmethod
    def of(cls, spend: CloudSpend, workload: Workload) -> CloudPlan:
        return cls(
            monthly_usd=spend.monthly_usd,
            medium=RoutePlan.of(spend.medium, spend.medium_share, workload),
            large=RoutePlan.of(spend.large, spend.large_share, workload),
        )


class HybridPlan(Result):
    """The cheapest box (or boxes) that carries the workload, with the cloud spill."""

    tier: str
    tier_name: str
    provider: str
    instance_type: str
    region: str
    nodes: int
    models: list[LocalModelPlan]
    local_share: float
    utilization: float
    headroom: float
    concurrency: int
    p95_latency_s: float
    first_token_p95_s: float
    server_usd: float
    spill: CloudPlan
    hybrid_usd: float
    savings_usd: float
    savings_fraction: float
    break_even_requests_per_day: float | None
    router: RouterShare | None = None  # where the local share comes from; what quality costs


class Verdict(Result):
    """The answer, first: a box or the cloud, and from which volume a box pays."""

    answer: Literal["hybrid", "cloud", "none"]  # none: --local-only and no box carries it
    headline: str
    cloud_only_usd: float
    hybrid_usd: float | None  # the cheapest box that carries it within the ceiling
    hybrid_pays_from_requests_per_day: float | None
    pays_from_option: str | None
    beyond_ceiling: str | None  # the cheapest option that needs more boxes than allowed


class Recommendation(Result):
    workload: Workload
    verdict: Verdict
    cloud_only: CloudPlan
    hybrid: HybridPlan | None
    guide_tier: str
    guide_note: str
    considered: list[Candidate]
    next_step: str = ""  # the command to run next, or how to stay on the cloud
    prices_as_of: str | None = None  # the day the offers' prices were taken from the providers


class NoFeasiblePlan(Exception):
    """Nothing answers: no box carries it and the cloud is ruled out (local-only or budget)."""

    def __init__(self, recommendation: Recommendation, why: str) -> None:
        super().__init__(why)
        self.recommendation = recommendation
        self.why = why
