"""How much of a workload a tier serves locally, how busy it keeps the box, how long it takes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.planning.workload import Workload

# Above this utilisation at peak, queues grow faster than they drain on a real box.
MAX_UTILIZATION = 0.8


def parallel_gain(slots: int, gpu: bool) -> float:
    """Aggregate throughput of `slots` parallel sequences, in single-stream units.

    On CPU, 4 parallel sequences doubled aggregate generation (DESIGN.md: 22 -> 44 tok/s), so
    the gain grows as the square root; a GPU batches nearly linearly.
    """
    return slots**0.9 if gpu else math.sqrt(slots)


@dataclass(frozen=True)
class LocalPath:
    """One kind of request served by one local model."""

    kind: str  # "simple" or "complex"
    model: str
    share: float  # of all requests
    tokens_per_s: float
    single_request_s: float  # alone on the box
    p95_latency_s: float = 0.0


@dataclass(frozen=True)
class TierLoad:
    paths: list[LocalPath]
    local_share: float
    medium_share: float  # simple requests past the tier's local share: cheap cloud
    large_share: float  # complex requests the tier cannot answer well: large cloud
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


def request_seconds(workload: Workload, tokens_per_s: float, prompt_speedup: float) -> float:
    """One request alone: prompt processing (prompt_speedup x faster) plus generation."""
    return workload.prompt_tokens / (tokens_per_s * prompt_speedup) + (
        workload.response_tokens / tokens_per_s
    )


def tier_load(
    catalog: Catalog,
    tier: Tier,
    workload: Workload,
    *,
    serve_complex: bool = True,
    nodes: int = 1,
) -> TierLoad:
    """Split the workload between the tier's models and the cloud, and size the local part.

    serve_complex=False sends complex requests to the large cloud route even when the tier has a
    model for them; nodes > 1 spreads the local load over that many boxes behind a load balancer.
    """
    problems: list[str] = []
    # The same roles the rendered router routes by (hybridctl.catalog.roles).
    roles = local_roles(tier)
    simple_model = roles.simple
    complex_model = roles.complex if serve_complex or workload.local_only else None
    simple_share = 1 - workload.complex_share

    if workload.local_only:
        if complex_model is None and workload.complex_share > 0:
            problems.append(
                f"local-only needs a complex-role model for the {workload.complex_share:.0%} "
                f"complex requests; the tier has only {simple_model.model} (role: simple)"
            )
        simple_local, complex_local = simple_share, workload.complex_share
    else:
        cap = tier.promises.local_share
        simple_local = min(simple_share, cap)
        wanted_complex = workload.complex_share if complex_model else 0.0
        complex_local = min(wanted_complex, max(0.0, cap - simple_local))

    stack = catalog.stack
    speedup = stack.prompt_speedup_gpu if tier.gpu else stack.prompt_speedup_cpu
    paths = []
    if simple_local > 0:
        tps = simple_model.promised_tokens_per_s
        paths.append(
            LocalPath(
                "simple",
                simple_model.model,
                simple_local,
                tps,
                request_seconds(workload, tps, speedup),
            )
        )
    if complex_local > 0:
        entry = complex_model or simple_model
        tps = entry.promised_tokens_per_s
        paths.append(
            LocalPath(
                "complex", entry.model, complex_local, tps, request_seconds(workload, tps, speedup)
            )
        )

    # Busy single-stream seconds per second at peak, per node; every model shares the same cores.
    offered = (
        workload.peak_requests_per_s * sum(p.share * p.single_request_s for p in paths) / nodes
    )
    gpu = tier.gpu is not None
    utilization = offered / parallel_gain(tier.parallel_slots, gpu)
    concurrency = min(tier.parallel_slots, max(1, math.ceil(offered)))
    slowdown = concurrency / parallel_gain(concurrency, gpu)
    if utilization < 1:
        # Mostly deterministic service times: the p95 wait is about 1.5 x rho / (1 - rho) of one
        # service time (three times the M/D/1 mean wait).
        queueing = 1 + 1.5 * utilization / (1 - utilization)
        paths = [
            LocalPath(**{**p.__dict__, "p95_latency_s": p.single_request_s * slowdown * queueing})
            for p in paths
        ]
    else:
        paths = [LocalPath(**{**p.__dict__, "p95_latency_s": math.inf}) for p in paths]

    return TierLoad(
        paths=paths,
        local_share=simple_local + complex_local,
        medium_share=simple_share - simple_local,
        large_share=workload.complex_share - complex_local,
        utilization=utilization,
        concurrency=concurrency,
        problems=problems,
        nodes=nodes,
        serves_complex=complex_local > 0,
    )
