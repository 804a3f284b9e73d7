"""How much of a workload a tier serves locally, how busy it keeps the box, how long it takes."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.planning.batching import BatchCurve, batch_curve
from hybridctl.planning.router_share import local_cap
from hybridctl.planning.speed import predict, slot_gain
from hybridctl.planning.workload import QUALITY_MIN_PARAMETERS_B, Workload

# Above this utilisation at peak, queues grow faster than they drain on a real box.
MAX_UTILIZATION = 0.8
# Node counts searched past the first that meets MAX_UTILIZATION (latency shrinks with nodes).
_NODE_SEARCH_LIMIT = 1 << 24


def parallel_gain(slots: int, gpu: bool) -> float:
    """Aggregate throughput of `slots` parallel sequences, in single-stream units, when the speed
    model has no gain measured at the server's thread count: 1.0 on CPU (the one measurement,
    1.03x at 2 slots on 2 threads, says nothing about other core counts, so none is assumed); a
    GPU batches nearly linearly (an assumption: no GPU efficiency is measured).
    """
    return slots**0.9 if gpu else 1.0


@dataclass(frozen=True)
class ModelSpeed:
    """One model's speeds on one tier, from the speed model (hybridctl.planning.speed)."""

    model: str
    generation_tokens_per_s: float
    prompt_tokens_per_s: float
    slots: int
    full_gain: float  # aggregate / single stream at `slots`
    measured_gain: bool  # False: no gain measured at these threads; parallel_gain() is assumed
    gpu: bool
    source: str
    detail: str
    threads: int = 1
    bound: str = "bandwidth"
    curve: BatchCurve | None = None  # a GPU's continuous-batching curve (planning.batching)

    @property
    def gain_source(self) -> str:
        if self.curve is not None:
            return "published"
        return "measured" if self.measured_gain else "assumed"

    def gain(self, sequences: int) -> float:
        if sequences <= 1:
            return 1.0
        if self.curve is not None:
            return self.curve.gain(min(sequences, self.slots))
        if self.measured_gain:
            return slot_gain(self.full_gain, self.slots, sequences)
        return parallel_gain(sequences, self.gpu)


def model_speed(
    catalog: Catalog,
    tier: Tier,
    model_id: str,
    *,
    host_cpus: int | None = None,
    bandwidth_gbs: float | None = None,
) -> ModelSpeed:
    """One model's speeds on the tier's box; host_cpus and bandwidth_gbs: a machine's own (the
    box `bench --deployment` measures), in place of the tier's."""
    p = predict(catalog, tier.id, model_id, host_cpus=host_cpus, bandwidth_gbs=bandwidth_gbs)
    measured_gain = p.gain_source == "measured" and p.parallel_slots > 1
    gpu = tier.gpu is not None
    if gpu and p.source != "measured":  # no GPU measurement: the batching physics
        curve = batch_curve(catalog, tier, catalog.models[model_id], model_id)
        slots = min(p.parallel_slots, curve.slots)
        return ModelSpeed(
            model=model_id,
            generation_tokens_per_s=curve.single_tokens_per_s,
            prompt_tokens_per_s=curve.prompt_tokens_per_s,
            slots=slots,
            full_gain=curve.gain(slots),
            measured_gain=False,
            gpu=True,
            source="published",
            detail=curve.detail,
            threads=p.threads,
            bound="compute" if curve.compute_bound_from else "bandwidth",
            curve=curve,
        )
    return ModelSpeed(
        model=model_id,
        generation_tokens_per_s=p.generation_tokens_per_s,
        prompt_tokens_per_s=p.prompt_tokens_per_s,
        slots=p.parallel_slots,
        full_gain=p.parallel_gain if measured_gain else parallel_gain(p.parallel_slots, gpu),
        measured_gain=measured_gain,
        gpu=gpu,
        source=p.source,
        detail=p.detail,
        threads=p.threads,
        bound=p.bound,
    )


def tier_speeds(catalog: Catalog, tier: Tier) -> dict[str, ModelSpeed]:
    return {entry.model: model_speed(catalog, tier, entry.model) for entry in tier.models}


@dataclass(frozen=True)
class LocalPath:
    """One kind of request served by one local model."""

    kind: str  # "simple" or "complex"
    model: str
    share: float  # of all requests
    speed: ModelSpeed
    single_request_s: float  # alone on the box
    prompt_s: float  # the prompt part of single_request_s: the first token's wait when alone
    p95_latency_s: float = 0.0
    first_token_p95_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.speed.generation_tokens_per_s


@dataclass(frozen=True)
class TierLoad:
    paths: list[LocalPath]
    local_share: float
    medium_share: float  # requests the box does not answer that need the medium route
    large_share: float  # those that need the large route
    utilization: float
    concurrency: int
    problems: list[str]
    nodes: int = 1
    serves_complex: bool = False

    @property
    def headroom(self) -> float:
        return 1 - self.utilization

    @property
    def worst_p95_s(self) -> float:
        return max((p.p95_latency_s for p in self.paths), default=0.0)

    @property
    def worst_first_token_s(self) -> float:
        return max((p.first_token_p95_s for p in self.paths), default=0.0)


def request_seconds(workload: Workload, speed: ModelSpeed) -> tuple[float, float]:
    """(whole request, prompt part) for one request alone on the box."""
    prompt_s = workload.prompt_tokens / speed.prompt_tokens_per_s
    return prompt_s + workload.response_tokens / speed.generation_tokens_per_s, prompt_s


def tier_load(
    catalog: Catalog,
    tier: Tier,
    workload: Workload,
    *,
    serve_complex: bool = True,
    nodes: int = 1,
    speeds: dict[str, ModelSpeed] | None = None,
) -> TierLoad:
    """Split the workload between the tier's models and the cloud, and size the local part.

    serve_complex=False sends complex requests to the cloud even when the tier has a model for
    them; nodes > 1 spreads the local load over that many boxes behind a load balancer.
    """
    speeds = speeds or tier_speeds(catalog, tier)
    problems: list[str] = []
    # The same roles the rendered router routes by (hybridctl.catalog.roles).
    roles = local_roles(tier)
    simple_model = roles.simple
    complex_model = roles.complex if serve_complex or workload.local_only else None
    if complex_model is not None and workload.quality:
        size = catalog.models[complex_model.model].architecture.parameters_b
        if size < QUALITY_MIN_PARAMETERS_B:
            if workload.local_only:
                problems.append(
                    f"--quality needs a {QUALITY_MIN_PARAMETERS_B:g}B+ model for complex "
                    f"requests; the tier's {complex_model.model} has {size:g}B"
                )
            complex_model = None
    simple_share = 1 - workload.complex_share

    if workload.local_only:
        if complex_model is None and workload.complex_share > 0 and not problems:
            problems.append(
                f"local-only needs a complex-role model for the {workload.complex_share:.0%} "
                f"complex requests; the tier has only {simple_model.model} (role: simple)"
            )
        simple_local, complex_local = simple_share, workload.complex_share
    else:
        cap = local_cap(catalog, tier, complex_model is not None, workload.traffic)
        simple_local = min(simple_share, cap)
        wanted_complex = workload.complex_share if complex_model else 0.0
        complex_local = min(wanted_complex, max(0.0, cap - simple_local))

    paths = []
    for kind, share, entry in (
        ("simple", simple_local, simple_model),
        ("complex", complex_local, complex_model or simple_model),
    ):
        if share > 0:
            speed = speeds[entry.model]
            single, prompt_s = request_seconds(workload, speed)
            paths.append(LocalPath(kind, entry.model, share, speed, single, prompt_s))

    # Busy single-stream seconds per second at peak, per node; every model shares the same cores.
    rate = workload.peak_requests_per_s / nodes
    busy = [rate * p.share * p.single_request_s for p in paths]
    offered = sum(busy)
    utilization = sum(b / p.speed.gain(p.speed.slots) for b, p in zip(busy, paths, strict=True))
    slots = max((p.speed.slots for p in paths), default=tier.parallel_slots)
    concurrency = min(slots, max(1, math.ceil(offered)))
    paths = [_latencies(p, concurrency, utilization) for p in paths]

    # Complex requests the box does not answer go to the route their complexity calls for.
    complex_cloud = workload.complex_share - complex_local
    large_fraction = workload.large_need / workload.complex_share if workload.complex_share else 0
    large = complex_cloud * large_fraction
    return TierLoad(
        paths=paths,
        local_share=simple_local + complex_local,
        medium_share=(simple_share - simple_local) + (complex_cloud - large),
        large_share=large,
        utilization=utilization,
        concurrency=concurrency,
        problems=problems,
        nodes=nodes,
        serves_complex=complex_local > 0,
    )


def _latencies(path: LocalPath, concurrency: int, utilization: float) -> LocalPath:
    if utilization >= 1:
        return replace(path, p95_latency_s=math.inf, first_token_p95_s=math.inf)
    slowdown = concurrency / path.speed.gain(concurrency)
    # Mostly deterministic service times: the p95 wait is about 1.5 x rho / (1 - rho) of one
    # service time (three times the M/D/1 mean wait).
    wait = path.single_request_s * slowdown * 1.5 * utilization / (1 - utilization)
    return replace(
        path,
        p95_latency_s=path.single_request_s * slowdown + wait,
        first_token_p95_s=path.prompt_s * slowdown + wait,
    )


def latency_problem(load: TierLoad, workload: Workload) -> str | None:
    if load.problems:
        return "; ".join(load.problems)
    if load.utilization > MAX_UTILIZATION:
        return f"capacity: {load.utilization:.0%} busy > {MAX_UTILIZATION:.0%}"
    if load.worst_p95_s > workload.p95_latency_s:
        return f"latency: p95 {load.worst_p95_s:.1f} s > {workload.p95_latency_s:g} s"
    target = workload.first_token_target_s
    if target is not None and load.worst_first_token_s > target:
        flag = "--sub-second" if workload.sub_second else "--first-token-p95"
        return f"latency: first token p95 {load.worst_first_token_s:.2f} s > {target:g} s ({flag})"
    return None


def min_nodes(
    catalog: Catalog,
    tier: Tier,
    workload: Workload,
    *,
    serve_complex: bool,
    speeds: dict[str, ModelSpeed],
) -> TierLoad:
    """The fewest boxes that carry the workload (no ceiling), or the one-box load that cannot.

    Utilisation falls as 1/nodes, so the search starts where it meets MAX_UTILIZATION and then
    doubles and bisects until the latency targets hold too. When one request alone is already
    too slow, no number of boxes helps: the load on one box is returned with its problem.
    """

    def load(n: int) -> TierLoad:
        return tier_load(
            catalog, tier, workload, serve_complex=serve_complex, nodes=n, speeds=speeds
        )

    one = load(1)
    if one.problems or latency_problem(one, workload) is None:
        return one
    alone = load(_NODE_SEARCH_LIMIT)
    if latency_problem(alone, workload) is not None:
        return one
    low = max(1, math.ceil(one.utilization / MAX_UTILIZATION)) - 1  # known (or assumed) failing
    high = low + 1
    while latency_problem(load(high), workload) is not None:
        low, high = high, min(_NODE_SEARCH_LIMIT, high * 2)
    while high - low > 1:
        mid = (low + high) // 2
        if latency_problem(load(mid), workload) is None:
            high = mid
        else:
            low = mid
    return load(high)
