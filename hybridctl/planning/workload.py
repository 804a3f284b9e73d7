"""The traffic a user expects: what `recommend` is asked to carry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30


class Workload(BaseModel):
    """Expected traffic; every field has the default a small business would start from."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requests_per_day: float = Field(gt=0)
    peak_factor: float = Field(default=3.0, ge=1, description="peak-hour rate / average rate")
    complex_share: float = Field(default=0.3, ge=0, le=1)
    prompt_tokens: int = Field(default=300, ge=1)
    response_tokens: int = Field(default=150, ge=1)
    p95_latency_s: float = Field(default=20.0, gt=0)
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    providers: tuple[str, ...] = ("hetzner", "aws", "gcp")
    local_only: bool = False
    max_nodes: int = Field(default=1, ge=1, le=16, description="boxes behind a load balancer")

    @model_validator(mode="after")
    def _providers_named(self) -> Workload:
        if not self.providers:
            raise ValueError("at least one provider must be allowed")
        return self

    @property
    def requests_per_month(self) -> float:
        return self.requests_per_day * DAYS_PER_MONTH

    @property
    def peak_requests_per_s(self) -> float:
        return self.requests_per_day / SECONDS_PER_DAY * self.peak_factor
