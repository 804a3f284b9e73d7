"""The traffic a user expects: what `recommend` is asked to carry, within real-world ranges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hybridctl.planning.limits import (
    DAYS_PER_MONTH,
    MAX_BUDGET_USD,
    MAX_LATENCY_S,
    MAX_NODES,
    MAX_PEAK_FACTOR,
    MAX_PROMPT_TOKENS,
    MAX_REQUESTS_PER_DAY,
    MAX_RESPONSE_TOKENS,
    SECONDS_PER_DAY,
)
from hybridctl.providers.names import CLOUDS

SUB_SECOND_S = 1.0  # the tier guide's "sub-second response", read as the first token's p95
# The tier guide's "better quality answers" question sends the user to Tier 3's Mistral 7B: a
# complex request counts as answered well only by a local model at least this large.
QUALITY_MIN_PARAMETERS_B = 7.0
# The Hybrid routing strategy's split: 70% small local, 20% medium cloud, 10% large cloud, so a
# third of the complex (not small-local) requests need the large route.
LARGE_FRACTION_OF_COMPLEX = 1 / 3


class Workload(BaseModel):
    """Expected traffic; every field has the default a small business would start from."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requests_per_day: float = Field(gt=0, le=MAX_REQUESTS_PER_DAY)
    peak_factor: float = Field(
        default=3.0, ge=1, le=MAX_PEAK_FACTOR, description="peak-hour rate / average rate"
    )
    complex_share: float = Field(default=0.3, ge=0, le=1)
    large_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of all requests that need the large route (default: a third of "
        "complex_share, the Hybrid routing strategy's 10% of 30%)",
    )
    prompt_tokens: int = Field(default=300, ge=1, le=MAX_PROMPT_TOKENS)
    response_tokens: int = Field(default=150, ge=1, le=MAX_RESPONSE_TOKENS)
    p95_latency_s: float = Field(default=20.0, gt=0, le=MAX_LATENCY_S)
    first_token_p95_s: float | None = Field(default=None, gt=0, le=MAX_LATENCY_S)
    monthly_budget_usd: float | None = Field(default=None, gt=0, le=MAX_BUDGET_USD)
    providers: tuple[str, ...] = CLOUDS
    local_only: bool = False
    max_nodes: int = Field(
        default=1, ge=1, le=MAX_NODES, description="ceiling on boxes behind a load balancer"
    )
    # What "cloud only" means: the gateway without a box (each request to the route its
    # complexity needs), or everything on the large route (what a user of one big model pays).
    cloud_baseline: Literal["routed", "large"] = "routed"
    # The kind of requests (a key of the catalog's routing.need_curves, default its
    # routing.traffic): what the router's cloud calls recover of the quality gap depends on it.
    traffic: str | None = Field(default=None, min_length=1, max_length=64)
    # The VPS tier selection guide's decision-tree questions (Tier Selection Decision Tree).
    learning: bool = False
    quality: bool = False
    sub_second: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        if not self.providers:
            raise ValueError("at least one provider must be allowed")
        if self.large_share is not None and self.large_share > self.complex_share:
            raise ValueError(
                f"the large-route share ({self.large_share:g}) cannot exceed the complex "
                f"share ({self.complex_share:g}): large-route requests are complex ones"
            )
        return self

    @property
    def large_need(self) -> float:
        """Share of all requests whose complexity calls for the large route."""
        if self.large_share is not None:
            return self.large_share
        return self.complex_share * LARGE_FRACTION_OF_COMPLEX

    @property
    def first_token_target_s(self) -> float | None:
        if self.sub_second:
            return min(SUB_SECOND_S, self.first_token_p95_s or SUB_SECOND_S)
        return self.first_token_p95_s

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_day * DAYS_PER_MONTH

    @property
    def peak_requests_per_s(self) -> float:
        return self.requests_per_day / SECONDS_PER_DAY * self.peak_factor

    def at_volume(self, requests_per_day: float) -> Workload:
        """The same traffic shape at another volume."""
        return self.model_copy(update={"requests_per_day": requests_per_day})
