"""Speed model: generation, prompt and parallel speed of a model on a tier, with provenance."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from hybridctl.catalog.resources import server_resources
from hybridctl.catalog.schema import Backend, Catalog, Measurement, Model, SpeedEfficiency, Tier

SpeedSource = Literal["measured", "derived", "claimed"]
Bound = Literal["bandwidth", "compute", "measured", "claimed"]
GainSource = Literal["measured", "assumed"]
PROMISE_BAND = 0.2
"""A catalog figure further than this fraction from the plan's derived one is flagged by `validate`
(the band `bench --deployment` holds the plan to on the box)."""


@dataclass(frozen=True)
class SpeedPrediction:
    """What one model does on one tier, and where each figure comes from."""

    tier_id: str
    model_id: str
    generation_tokens_per_s: float
    prompt_tokens_per_s: float
    aggregate_tokens_per_s: float
    parallel_slots: int
    source: SpeedSource
    detail: str
    roofline_tokens_per_s: float
    threads: int = 1  # the cores the model server is given (hybridctl.catalog.resources)
    bound: Bound = "bandwidth"  # what limits generation: memory bandwidth or the cores
    gain_source: GainSource = "assumed"  # "assumed": no gain measured at these threads (1.0)

    @property
    def parallel_gain(self) -> float:
        return self.aggregate_tokens_per_s / self.generation_tokens_per_s


def quant_family(quantization: str) -> str:
    """Q4_K_M and Q4_K_S share Q4_K's kernels; other types are their own family."""
    quant = quantization.upper()
    return re.sub(r"^((?:I?Q\d)_K)_(?:XS|S|M|L)$", r"\1", quant)


def backend_of(tier: Tier) -> Backend:
    return "cuda" if tier.gpu else "cpu"


def tier_threads(tier: Tier, provider: str | None = None) -> int:
    """Threads the model server runs on the tier's deployed offer (the rendered `threads`)."""
    return server_resources(tier, provider).threads


def model_bytes(model: Model) -> float:
    """Bytes generation reads per token: every weight once (the file, as llama.cpp maps it)."""
    return model.file_size_mb * 1_000_000


def slot_gain(gain: float, at_slots: int, slots: int) -> float:
    """Aggregate over single-stream speed at `slots`, from one measured gain at `at_slots`.

    A decode step of n sequences reads the weights once and computes n tokens: its time is
    w + n*c (in single-step units, w + c = 1), so the gain is n / (1 - c + n*c). One measured
    point fixes c; clamped so the gain stays between 1 and n.
    """
    if slots <= 1:
        return 1.0
    c = (at_slots / gain - 1) / (at_slots - 1)
    c = min(1.0, max(0.0, c))
    return slots / (1 - c + slots * c)


def _records(catalog: Catalog, quantization: str, backend: Backend) -> list[SpeedEfficiency]:
    family = quant_family(quantization)
    found = [
        e for e in catalog.speed_efficiencies if e.quant_family == family and e.backend == backend
    ]
    # the latest date wins; among records of one date, the one written last
    return sorted(found, key=lambda e: e.date)


def efficiency_for(catalog: Catalog, quantization: str, backend: Backend) -> SpeedEfficiency | None:
    """The latest recorded efficiency on all of a machine's threads (a 1-thread record only
    when there is no other): the fraction of the bandwidth roofline generation reaches."""
    found = _records(catalog, quantization, backend)
    several = [e for e in found if e.threads > 1]
    return (several or found)[-1] if found else None


@dataclass(frozen=True)
class CoreRate:
    """Weight bytes per second one core decodes, before the efficiency, and where it came from."""

    gbs: float
    source: Literal["measured", "derived"]
    detail: str


def core_rate(
    catalog: Catalog, quantization: str, backend: Backend, eff: SpeedEfficiency
) -> CoreRate | None:
    """The compute term's per-core rate: from a 1-thread record of the family (measured), else
    the record's own `per_core_gbs` (derived, with its source); None on a GPU or without either.

    A 1-thread record's generation x bandwidth is what one core reached; over the all-threads
    efficiency it is the raw rate that min(roofline, cores x rate) x efficiency multiplies.
    """
    if backend != "cpu":
        return None
    single = [e for e in _records(catalog, quantization, backend) if e.threads == 1]
    if single:
        one = single[-1]
        observed = one.generation * one.bandwidth_gbs
        return CoreRate(
            observed / eff.generation,
            "measured",
            f"{observed:.1f} GB/s on one thread ({one.machine}, {one.date})",
        )
    if eff.per_core_gbs:
        ref = eff.per_core_source.ref if eff.per_core_source else "no source recorded"
        return CoreRate(eff.per_core_gbs, "derived", ref)
    return None


@dataclass(frozen=True)
class Derived:
    generation: float
    prompt: float | None
    aggregate: float
    roofline: float
    bound: Bound = "bandwidth"
    gain_source: GainSource = "assumed"


def derive(
    eff: SpeedEfficiency,
    *,
    bytes_per_token: float,
    parameters_b: float,
    bandwidth_gbs: float,
    threads: int,
    slots: int,
    per_core_gbs: float | None = None,
    gain_record: SpeedEfficiency | None = None,
) -> Derived:
    """min(roofline, threads x per-core rate) x efficiency (generation), per-thread compute
    (prompt), slot model (aggregate).

    A parallel gain applies only at the thread count it was measured with: batching on one
    thread says little about batching on sixteen (without one, the aggregate is one stream and
    the gain is "assumed"). gain_record: the family's record at `threads`, where it is not `eff`.
    """
    roofline = bandwidth_gbs * 1e9 / bytes_per_token
    compute = threads * per_core_gbs * 1e9 / bytes_per_token if per_core_gbs else math.inf
    bound: Bound = "compute" if compute < roofline else "bandwidth"
    generation = min(roofline, compute) * eff.generation
    prompt = eff.prompt_per_thread_b * threads / parameters_b if eff.prompt_per_thread_b else None
    at = gain_record or eff
    measured = bool(at.parallel_gain and at.at_slots and at.threads == threads)
    gain = slot_gain(at.parallel_gain or 1.0, at.at_slots or 2, slots) if measured else 1.0
    return Derived(
        generation,
        prompt,
        generation * gain,
        roofline,
        bound,
        "measured" if measured else "assumed",
    )


def _tier_measurement(model: Model, tier_id: str) -> Measurement | None:
    found = [m for m in model.measurements if m.tier == tier_id]
    return max(found, key=lambda m: m.date) if found else None


def _prompt_speedup(catalog: Catalog, tier: Tier) -> float:
    stack = catalog.stack
    return stack.prompt_speedup_gpu if tier.gpu else stack.prompt_speedup_cpu


def predict(
    catalog: Catalog,
    tier_id: str,
    model_id: str,
    *,
    provider: str | None = None,
    host_cpus: int | None = None,
    bandwidth_gbs: float | None = None,
) -> SpeedPrediction:
    """Model `model_id` on tier `tier_id`: measured there, derived from an efficiency, or claimed.

    The server's cores, slots and context are the rendered box's (server_resources for the
    provider's offer, or the cheapest deployable one). bandwidth_gbs: a machine's measured
    bandwidth in place of the tier's (a box benched where it runs; the tier's recorded
    measurements are another machine's, so the figure is derived). Raises KeyError when the
    tier or the model is not in the catalog.
    """
    tier = catalog.tier(tier_id)
    model = catalog.models[model_id]
    resources = server_resources(tier, provider, host_cpus=host_cpus)
    slots, threads = resources.parallel_slots, resources.threads
    bandwidth = tier.gpu.memory_bandwidth_gbs if tier.gpu else tier.memory_bandwidth_gbs
    bandwidth = bandwidth_gbs or bandwidth
    roofline = bandwidth * 1e9 / model_bytes(model)
    backend = backend_of(tier)
    eff = efficiency_for(catalog, model.quantization, backend)
    rate = core_rate(catalog, model.quantization, backend, eff) if eff else None
    at_threads = [e for e in _records(catalog, model.quantization, backend) if e.threads == threads]
    derived = (
        derive(
            eff,
            bytes_per_token=model_bytes(model),
            parameters_b=model.architecture.parameters_b,
            bandwidth_gbs=bandwidth,
            threads=threads,
            slots=slots,
            per_core_gbs=rate.gbs if rate else None,
            gain_record=at_threads[-1] if at_threads else None,
        )
        if eff
        else None
    )
    speedup = _prompt_speedup(catalog, tier)
    measured = None if bandwidth_gbs else _tier_measurement(model, tier.id)
    if measured is not None:
        gen = measured.tokens_per_s
        prompt = measured.prompt_tokens_per_s or gen * speedup
        gain_source: GainSource = derived.gain_source if derived else "assumed"
        if measured.aggregate_tokens_per_s and measured.parallel_slots == slots:
            aggregate = measured.aggregate_tokens_per_s
            gain_source = "measured"
        else:
            aggregate = gen * (derived.aggregate / derived.generation if derived else 1.0)
        detail = f"measured on tier {tier.id}: {measured.machine}, {measured.date}"
        return SpeedPrediction(
            tier.id, model_id, gen, prompt, aggregate, slots, "measured", detail, roofline,
            threads, "measured", gain_source,
        )  # fmt: skip
    if derived is not None and eff is not None:
        prompt = derived.prompt or derived.generation * speedup
        detail = _derived_detail(eff, derived, bandwidth, threads, rate)
        return SpeedPrediction(
            tier.id, model_id, derived.generation, prompt, derived.aggregate, slots, "derived",
            detail, roofline, threads, derived.bound, derived.gain_source,
        )  # fmt: skip
    entry = next((e for e in tier.models if e.model == model_id), None)
    if entry is not None:
        gen, ref = entry.promised_tokens_per_s, entry.source.ref
    else:
        claims = sorted(model.claims, key=lambda c: c.tokens_per_s)
        gen = claims[0].tokens_per_s if claims else roofline / 2
        ref = claims[0].source.ref if claims else "half the bandwidth roofline (no claim)"
    detail = f"claimed: {ref} (no efficiency measured for {quant_family(model.quantization)})"
    return SpeedPrediction(
        tier.id, model_id, gen, gen * speedup, gen, slots, "claimed", detail, roofline, threads,
        "claimed", "assumed",
    )  # fmt: skip


def _derived_detail(
    eff: SpeedEfficiency, derived: Derived, bandwidth: float, threads: int, rate: CoreRate | None
) -> str:
    where = f"{eff.quant_family}, {eff.backend}, measured {eff.date} on {eff.machine}"
    cores = f"{threads} core{'s' if threads != 1 else ''}"
    if derived.bound == "compute" and rate is not None:
        return (
            f"derived: compute-bound, {eff.generation:.0%} of {cores} x {rate.gbs:.3g} GB/s "
            f"(under the {bandwidth:g} GB/s roofline; {where}; per-core rate {rate.source}: "
            f"{rate.detail.removeprefix('derived: ')})"
        )
    no_rate = "" if rate is not None or eff.backend != "cpu" else "; no per-core rate recorded"
    return (
        f"derived: {eff.generation:.0%} of the {bandwidth:g} GB/s roofline on {cores} "
        f"({where}{no_rate})"
    )


def promise_checks(catalog: Catalog) -> list[str]:
    """Promised tokens/s further than PROMISE_BAND from what the speed model derives for them.

    A tier's promise is the plan's figure (`tiers`, `recommend` and `bench` read predict()); the
    catalog's `promised_tokens_per_s` is the claim used only where nothing is derived (no
    efficiency measured for the family), and must not say otherwise where something is.
    """
    findings = []
    for tier in catalog.tiers:
        for entry in tier.models:
            if entry.model not in catalog.models:
                continue
            prediction = predict(catalog, tier.id, entry.model)
            if prediction.source == "claimed":
                continue
            ratio = entry.promised_tokens_per_s / prediction.generation_tokens_per_s
            if abs(ratio - 1) > PROMISE_BAND:
                findings.append(
                    f"tier {tier.id}, {entry.model}: promised {entry.promised_tokens_per_s:g} "
                    f"tok/s is {ratio:.2f}x the plan's {prediction.source} "
                    f"{prediction.generation_tokens_per_s:.1f} tok/s ({prediction.detail}); "
                    f"set it to {prediction.generation_tokens_per_s:.1f}"
                )
    return findings
