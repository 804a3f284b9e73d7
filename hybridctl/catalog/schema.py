"""Pydantic models of the catalog (tiers.yaml); unknown keys are refused everywhere."""

# No `from __future__ import annotations`: pydantic would evaluate every field's annotation
# string when each class is created, a fifth of this module's import time.
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic import Strict as StrictType

Runtime = Literal["llama.cpp", "bitnet.cpp"]
ServiceName = Literal["gateway", "redis", "prometheus", "grafana", "proxy"]
Strategy = Literal["local_first", "cost_optimized", "quality", "speed"]
UserTier = Literal["free", "paid", "own_key"]
RouteName = Literal["local", "medium", "large"]
OverBudget = Literal["cheapest_cloud", "local_only", "refuse"]
ModelRole = Literal["simple", "complex"]
"""Which requests a tier's local model takes (hybridctl.catalog.roles holds the rule)."""


def _id_to_str(value: object) -> object:
    # YAML reads `id: 2.5` as a float and `id: 1` as an int; tier ids are names.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return f"{value:g}"
    return value


TierId = Annotated[str, BeforeValidator(_id_to_str)]
# Strict: YAML's `true` or "12" is not a number; pydantic's lax mode would take both.
Number = Annotated[float, StrictType()]
Integer = Annotated[int, StrictType()]
Flag = Annotated[bool, StrictType()]
PositiveFloat = Annotated[Number, Field(gt=0)]
NonNegativeFloat = Annotated[Number, Field(ge=0)]
Fraction = Annotated[Number, Field(ge=0, le=1)]

_AS_OF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class Strict(BaseModel):
    # defer_build: a catalog loaded from the cache never validates, so start-up skips the
    # schema build (most of the import time); the first validation builds it.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Source(Strict):
    """Where a number came from and when it was recorded."""

    ref: str = Field(min_length=3, description="document section or price page")
    as_of: str = Field(description="YYYY, YYYY-MM or YYYY-MM-DD")

    @field_validator("as_of", mode="before")
    @classmethod
    def _as_of_format(cls, value: object) -> object:
        text = str(value)
        if not _AS_OF.match(text):
            raise ValueError("must be a date written YYYY, YYYY-MM or YYYY-MM-DD")
        return text


def _day(value: object) -> str:
    text = str(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError("must be a day written YYYY-MM-DD")
    return text


Day = Annotated[str, BeforeValidator(_day)]  # a day written YYYY-MM-DD (a price's date)


class PriceSnapshot(Strict):
    """When the offers' prices were taken from the providers' price lists, and the exchange rate
    that turned non-USD prices into USD."""

    as_of: Day = Field(description="YYYY-MM-DD: the day the offers' prices were recorded")
    usd_per_eur: PositiveFloat
    exchange_rate_source: Source
    note: str | None = None


class Gpu(Strict):
    model: str
    count: Integer = Field(ge=1)
    vram_gib: PositiveFloat
    memory_bandwidth_gbs: PositiveFloat
    fp16_tflops: PositiveFloat | None = Field(
        default=None, description="datasheet dense FP16 tensor TFLOP/s, per GPU"
    )
    usable_vram_mib: PositiveFloat | None = Field(
        default=None, description="VRAM the driver reports (under the label), per GPU"
    )


class Band(Strict):
    """A request-volume band, requests per day."""

    min: NonNegativeFloat
    max: PositiveFloat | None = None


class Offer(Strict):
    """One provider's machine for a tier and its monthly price."""

    provider: str
    instance_type: str
    region: str
    vcpu: PositiveFloat
    ram_gib: PositiveFloat
    monthly_usd: PositiveFloat
    price_source: Source
    reference_only: Flag = False
    note: str | None = None


class Unavailable(Strict):
    provider: str
    reason: str


class TierModel(Strict):
    """A model a tier serves, the requests it takes, and the generation speed promised for it."""

    model: str
    role: ModelRole = Field(
        default="simple",
        description="simple: requests under the local threshold; complex: those at or above it",
    )
    promised_tokens_per_s: PositiveFloat
    source: Source


class TierPromises(Strict):
    """What the tier guide says the tier delivers."""

    max_concurrent: Integer = Field(ge=1)
    typical_latency_s: tuple[PositiveFloat, PositiveFloat]
    local_share: Fraction
    source: Source


class Tier(Strict):
    id: TierId
    name: str
    summary: str
    ram_gib: PositiveFloat
    vcpu: PositiveFloat
    gpu: Gpu | None = None
    disk_gb: PositiveFloat
    transfer_tb: PositiveFloat
    memory_bandwidth_gbs: PositiveFloat
    memory_bandwidth_source: Source
    requests_per_day: Band
    use_cases: list[str] = Field(min_length=1)
    runtime: Runtime
    context_tokens: Integer = Field(ge=256)
    parallel_slots: Integer = Field(ge=1)
    # llama.cpp's batch and micro-batch (its defaults); the compute buffer it reserves grows with
    # the micro-batch (hybridctl.catalog.sizing.compute_buffer_mib).
    batch_size: Integer = Field(default=2048, ge=1)
    ubatch_size: Integer = Field(default=512, ge=1)
    swap_gib: NonNegativeFloat = 0
    # llama.cpp's CPU weight repacking is faster but keeps a second copy of the weights in
    # memory (measured: 7.4 GiB peak for a 7B Q4_K_M, 4.2 GiB without); off unless it fits.
    weight_repacking: Flag = False
    note: str | None = None
    services: list[ServiceName] = Field(min_length=1)
    tuning: "ServerTuning | None" = None
    models: list[TierModel] = Field(min_length=1)
    promises: TierPromises
    offers: list[Offer] = Field(min_length=1)
    unavailable: list[Unavailable] = []

    def offer_for(self, provider: str) -> Offer:
        """The tier's deployable offer on this cloud, or an error saying which clouds have one."""
        from hybridctl.errors import InputError, UsageError
        from hybridctl.providers.names import CLOUDS

        if provider not in CLOUDS:
            raise UsageError(
                f"unknown provider {provider!r}", hint=f"Choose one of: {', '.join(CLOUDS)}."
            )
        for offer in self.offers:
            if offer.provider == provider and not offer.reference_only:
                return offer
        reasons = [u.reason for u in self.unavailable if u.provider == provider]
        others = sorted({o.provider for o in self.offers if o.provider in CLOUDS})
        raise InputError(
            f"tier {self.id} has no {provider} offer" + (f": {reasons[0]}" if reasons else ""),
            hint=f"Providers with an offer for tier {self.id}: {', '.join(others) or 'none'}.",
        )


class Architecture(Strict):
    """The shape numbers that sizing needs."""

    family: str = Field(description="GGUF architecture name, e.g. llama, phi2, qwen2")
    parameters_b: PositiveFloat
    layers: Integer = Field(ge=1)
    embedding: Integer = Field(ge=1)
    feed_forward: Integer = Field(ge=1)
    heads: Integer = Field(ge=1)
    kv_heads: Integer = Field(ge=1)
    vocab: Integer = Field(ge=1)
    context_max: Integer = Field(ge=256)


class Claim(Strict):
    """A speed figure a source document states; recorded, not trusted."""

    tokens_per_s: PositiveFloat
    hardware: str
    source: Source


class Measurement(Strict):
    """A figure `hybridctl bench --update-catalog` measured."""

    tokens_per_s: PositiveFloat
    tokens_per_s_stddev: NonNegativeFloat = 0
    prompt_tokens_per_s: PositiveFloat | None = None
    peak_rss_mib: PositiveFloat | None = None
    machine: str
    llama_cpp: str
    date: str
    tier: str | None = None
    aggregate_tokens_per_s: PositiveFloat | None = None
    parallel_slots: Integer | None = Field(default=None, ge=1)


Backend = Literal["cpu", "cuda"]


class SpeedEfficiency(Strict):
    """How close one quantization family runs to the roofline on one backend, as measured.

    generation: measured tok/s x weight bytes per token / the machine's measured bandwidth.
    prompt_per_thread_b: prompt tok/s x billions of parameters / threads (compute-bound).
    parallel_gain: aggregate generation at `at_slots` sequences over single-stream generation.
    """

    quant_family: str = Field(min_length=2, description="e.g. Q4_K, TQ2_0, Q8_0")
    backend: Backend
    generation: Annotated[Number, Field(gt=0, le=2)]
    prompt_per_thread_b: PositiveFloat | None = None
    parallel_gain: PositiveFloat | None = None
    at_slots: Integer | None = Field(default=None, ge=2)
    bandwidth_gbs: PositiveFloat
    threads: Integer = Field(ge=1)
    models: list[str] = Field(min_length=1)
    machine: str
    llama_cpp: str
    date: str
    command: str = Field(min_length=3)
    # Weight bytes per second one core decodes, before `generation` (the compute term); used
    # when no 1-thread record of the family is in the catalog, and then `per_core_source` says
    # where it was derived from.
    per_core_gbs: PositiveFloat | None = None
    per_core_source: Source | None = None


class ServerTuning(Strict):
    """Model-server settings `bench --tune` chose for a tier, and where they were measured."""

    threads: Integer = Field(ge=1)
    batch_size: Integer = Field(ge=1)
    ubatch_size: Integer = Field(ge=1)
    flash_attn: Flag | None = Field(default=None, description="None: llama.cpp's auto")
    kv_cache_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    repack: Flag = False
    parallel_slots: Integer = Field(ge=1)
    tokens_per_s: PositiveFloat
    default_tokens_per_s: PositiveFloat
    machine: str
    date: str
    command: str = Field(min_length=3)


class Model(Strict):
    name: str
    architecture: Architecture
    quantization: str
    bits_per_weight: PositiveFloat
    file_size_mb: PositiveFloat
    runtimes: list[Runtime] = Field(min_length=1)
    uri: str = Field(pattern=r"^https://")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_source: Source | None = Field(
        default=None, description="where the sha256 was read, when not the file's own page"
    )
    license: str
    claims: list[Claim] = []
    measurements: list[Measurement] = []
    note: str | None = None

    @field_validator("sha256_source")
    @classmethod
    def _source_of_a_sha256(cls, value: Source | None, info: ValidationInfo) -> Source | None:
        if value is not None and not info.data.get("sha256"):
            raise ValueError("names where a sha256 came from, but the model has no sha256")
        return value


class CloudModel(Strict):
    """A cloud API model and its list price per million tokens."""

    provider: str
    route: RouteName
    input_usd_per_mtok: NonNegativeFloat
    output_usd_per_mtok: NonNegativeFloat
    litellm_model: str
    source: Source
    # A free model's daily request quota; past it the vendor answers 429 and the route's paid
    # members take the rest (hybridctl.catalog.route_mix).
    free_requests_per_day: Integer | None = Field(default=None, ge=1)
    note: str | None = None


class StackService(Strict):
    memory_mib: Integer = Field(ge=16)
    purpose: str


class Stack(Strict):
    """Memory budget of the box beside the model server."""

    os_reserved_mib: Integer = Field(ge=128)
    runtime_overhead_mib: Integer = Field(
        ge=0, description="per model, beside weights, KV cache and compute buffer: the process"
    )
    headroom_fraction: Fraction
    prompt_speedup_cpu: PositiveFloat = Field(description="prompt tok/s over generation tok/s")
    prompt_speedup_gpu: PositiveFloat
    prompt_speedup_source: Source
    services: dict[ServiceName, StackService]


class Complexity(Strict):
    """The hybrid strategy's complexity score and its thresholds (0-10 scale)."""

    weights: dict[str, Number]
    long_request_chars: Integer = Field(ge=1)
    local_below: Number
    medium_below: Number
    source: Source


class UserTierPolicy(Strict):
    routes: list[RouteName] = Field(min_length=1)
    max_complexity_local: Number | None = None
    # The local answer's confidence (exp of its mean token log-probability) below which the
    # gateway asks the next route instead; None: no escalation.
    min_confidence: Fraction | None = None
    note: str


class NeedCurve(Strict):
    """The need model on one kind of traffic (need_model.json's provenance): its held-out
    cost-quality curve (strong-call share -> share of the weak-to-strong quality gap recovered),
    and the share of such requests the policy's thresholds send on (target share, as set on
    MMLU's questions -> share of this traffic at or above that need)."""

    gap_recovered: dict[Fraction, Fraction] = Field(min_length=2)
    routed_share: dict[Fraction, Fraction] = {}
    source: Source


class Routing(Strict):
    default_strategy: Strategy
    strategies: dict[Strategy, str]
    fallback_chain: list[RouteName] = Field(min_length=1)
    routes: dict[RouteName, list[str]]
    complexity: Complexity
    user_tiers: dict[UserTier, UserTierPolicy]
    daily_cloud_budget_usd: PositiveFloat
    # When the day's cloud spend reaches the budget: alert, then only the cheapest cloud route
    # (the hybrid routing strategy's rule), or local only, or refuse cloud requests.
    over_budget: OverBudget = "cheapest_cloud"
    # A request with personal data (an e-mail address, a phone number, ...): "score" counts it as
    # one complexity factor among others; "local" serves it only on the box (a 403 for a user
    # tier without the local route), never on a cloud route, fallback or escalation.
    personal_data: Literal["score", "local"] = "score"
    # Task type (x-hybrid-task-type header) -> the least capable route it needs.
    task_types: dict[str, RouteName] = {}
    # Strategy -> route -> the share of requests the need model alone sends past the small local
    # model (medium) and to the large route; the policy's need thresholds give these shares.
    need_shares: dict[Strategy, dict[RouteName, Fraction]] = {}
    # Kind of traffic -> the need model's cost-quality curve measured on such requests, and the
    # kind the plan assumes unless told (recommend --traffic).
    need_curves: dict[str, NeedCurve] = {}
    traffic: str | None = None
    cache_ttl_s: Integer = Field(ge=0)
    # The largest request body the proxy passes to the gateway; None: sized from the longest
    # context the box serves (hybridctl.render.context.request_limit_mib).
    max_request_mib: Integer | None = Field(default=None, ge=1, le=64)
    source: Source

    def curve_for(self, traffic: str | None = None) -> tuple[str, NeedCurve] | None:
        """The need model measured on a kind of traffic (default: `traffic`), with the kind's
        name; None when the catalog measures none. A kind it lacks raises InputError."""
        from hybridctl.errors import InputError
        from hybridctl.suggest import close_matches

        kinds = list(self.need_curves)
        if not kinds and traffic is None:
            return None
        kind = traffic or self.traffic
        if kind in self.need_curves:
            return kind, self.need_curves[kind]
        guess = close_matches(kind or "", kinds)
        raise InputError(
            (
                f"traffic {kind!r} has no curve in routing.need_curves"
                if kind
                else "no kind of traffic chosen (routing.traffic)"
            )
            + (f" (did you mean {guess}?)" if guess else ""),
            hint=f"Kinds of traffic in routing.need_curves: {', '.join(kinds) or 'none'}.",
        )


class CostScenario(Strict):
    """One of the tier guide's cost-benefit tables, with its published figures."""

    name: str
    tier: str
    requests_per_month: PositiveFloat
    local_share: Fraction
    server_usd: PositiveFloat
    complex_usd_per_request: NonNegativeFloat
    simple_usd_per_request: NonNegativeFloat
    expected: dict[str, Number]
    source: Source


class RequestCosts(Strict):
    """Per-request cloud prices the guide's tables assume."""

    complex_usd: NonNegativeFloat
    simple_usd: NonNegativeFloat
    source: Source


class Catalog(Strict):
    version: Literal[1]
    stack: Stack
    tiers: list[Tier] = Field(min_length=1)
    models: dict[str, Model] = Field(min_length=1)
    cloud_models: dict[str, CloudModel] = Field(min_length=1)
    request_costs: RequestCosts
    routing: Routing
    cost_scenarios: list[CostScenario] = []
    speed_efficiencies: list[SpeedEfficiency] = []
    price_snapshot: PriceSnapshot | None = None

    def tier(self, tier_id: str) -> Tier:
        for tier in self.tiers:
            if tier.id == tier_id:
                return tier
        raise KeyError(tier_id)

    @property
    def tier_ids(self) -> list[str]:
        return [tier.id for tier in self.tiers]
