"""GPU throughput with continuous batching: aggregate tokens/s against concurrent sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridctl.catalog.schema import Catalog, Gpu, Model, Tier
from hybridctl.catalog.sizing import MIB, compute_buffer_mib, kv_cache_mib

# What a GPU reaches of its datasheet figures with llama.cpp's CUDA kernels on Q4_K_M weights.
# Nothing was measured on a GPU here, so these are "published": read from the figures below
# (scripts/gpu_calibrate.sh measures them where a GPU is at hand).
PUBLISHED_SOURCE = (
    "llama.cpp batched-bench README (https://github.com/ggml-org/llama.cpp/tree/master/tools/"
    "batched-bench), llama.cpp PRs #7676 (https://github.com/ggml-org/llama.cpp/pull/7676) and "
    "#15802 (https://github.com/ggml-org/llama.cpp/pull/15802), and vLLM's concurrency sweeps "
    "(https://docs.vllm.ai/en/latest/performance/benchmarks.html): single-stream decode at 60-75% "
    "of the memory bandwidth, batched decode and prompts at a fraction of the FP16 tensor peak"
)
BANDWIDTH_EFFICIENCY = 0.7  # single-stream decode: weight bytes x tok/s over datasheet GB/s
DECODE_COMPUTE_EFFICIENCY = 0.3  # batched decode (quantized matmul-vector/mmq): of FP16 peak
PROMPT_COMPUTE_EFFICIENCY = 0.5  # prompt processing (large GEMMs): of FP16 peak
MAX_SLOTS = 64  # llama.cpp's server slots past which the batched-bench figures stop
# Datasheet FP16 tensor throughput (dense) where the catalog's GPU entry records none.
_FP16_TFLOPS = {"T4": 65.0, "A10G": 70.0, "A10": 125.0, "L4": 121.0, "A100": 312.0}
# Usable VRAM (MiB) as the driver reports it, under the label's GiB.
_USABLE_VRAM_MIB = {"T4": 15_360, "A10G": 22_731, "A10": 22_731, "L4": 22_563}
# The KV cache a decoding sequence reads each step: its prompt and, on average, half its answer;
# recommend's default request (300 prompt + 150 answer tokens). The slots are still sized for the
# tier's whole context, as the server allocates them.
SEQUENCE_TOKENS = 300 + 150 // 2


@dataclass(frozen=True)
class BatchCurve:
    """One model on one GPU: speed alone, at every batch up to the slots VRAM holds, and why."""

    model: str
    single_tokens_per_s: float
    aggregate_tokens_per_s: tuple[float, ...]  # index b-1: b concurrent sequences
    prompt_tokens_per_s: float
    slots: int
    compute_bound_from: int | None  # the batch from which a step is compute-bound
    detail: str

    def gain(self, sequences: int) -> float:
        """Aggregate over single-stream speed at that many concurrent sequences (capped at the
        slots)."""
        if sequences <= 1:
            return 1.0
        b = min(sequences, self.slots)
        return self.aggregate_tokens_per_s[b - 1] / self.single_tokens_per_s


def _gpu_key(gpu: Gpu) -> str:
    return gpu.model.upper().replace("NVIDIA", "").replace("TESLA", "").strip()


def fp16_tflops(gpu: Gpu) -> float:
    """The catalog's figure for the card, else the datasheet's for a known card, else a T4's."""
    return gpu.fp16_tflops or _FP16_TFLOPS.get(_gpu_key(gpu), 65.0)


def usable_vram_mib(gpu: Gpu) -> float:
    """What the driver leaves for a process: the catalog's figure, the known one for the card,
    else 94% of the label (a T4 sold as 16 GB reports 15,360 MiB)."""
    known = _USABLE_VRAM_MIB.get(_gpu_key(gpu))
    per_gpu: float = gpu.usable_vram_mib or known or 0.94 * gpu.vram_gib * 1024
    return gpu.count * per_gpu


def slots_that_fit(catalog: Catalog, tier: Tier) -> int:
    """Sequences of the tier's full context each of its models can hold at once: usable VRAM
    (within the catalog's headroom on the label) less every model's weights, compute buffer and
    process overhead, shared equally between the models."""
    if tier.gpu is None:
        return tier.parallel_slots
    models = [catalog.models[e.model] for e in tier.models]
    ubatch = tier.ubatch_size or 512
    fixed = sum(
        m.file_size_mb * 1e6 / MIB
        + compute_buffer_mib(m.architecture, tier.context_tokens, ubatch)
        + catalog.stack.runtime_overhead_mib
        for m in models
    )
    label = tier.gpu.count * tier.gpu.vram_gib * 1024 * (1 - catalog.stack.headroom_fraction)
    free_each = (min(usable_vram_mib(tier.gpu), label) - fixed) / max(1, len(models))
    per_slot = max(kv_cache_mib(m.architecture, tier.context_tokens, 1) for m in models)
    return max(1, min(MAX_SLOTS, math.floor(free_each / per_slot)))


def batch_curve(catalog: Catalog, tier: Tier, model: Model, model_id: str) -> BatchCurve:
    """Each decode step reads the weights once and every sequence's KV cache (bandwidth) and
    does 2 x parameters FLOPs a sequence (compute); the step takes the longer of the two."""
    if tier.gpu is None:
        raise ValueError(f"tier {tier.id} has no GPU")
    gpu = tier.gpu
    bandwidth = gpu.count * gpu.memory_bandwidth_gbs * 1e9 * BANDWIDTH_EFFICIENCY
    flops = gpu.count * fp16_tflops(gpu) * 1e12
    weights = model.file_size_mb * 1e6
    read_tokens = min(tier.context_tokens, SEQUENCE_TOKENS)
    kv_per_seq = kv_cache_mib(model.architecture, read_tokens, 1) * MIB
    per_token_flops = 2 * model.architecture.parameters_b * 1e9
    slots = slots_that_fit(catalog, tier)
    aggregate = []
    compute_from = None
    for b in range(1, slots + 1):
        memory_s = (weights + b * kv_per_seq) / bandwidth
        compute_s = b * per_token_flops / (flops * DECODE_COMPUTE_EFFICIENCY)
        if compute_s > memory_s and compute_from is None:
            compute_from = b
        aggregate.append(b / max(memory_s, compute_s))
    prompt = flops * PROMPT_COMPUTE_EFFICIENCY / per_token_flops
    detail = (
        f"published: {BANDWIDTH_EFFICIENCY:.0%} of {gpu.memory_bandwidth_gbs:g} GB/s alone, "
        f"{aggregate[-1]:,.0f} tok/s at {slots} sequences (the slots {usable_vram_mib(gpu):,.0f} "
        f"MiB of usable VRAM hold at {tier.context_tokens:,} tokens)"
        + (f", compute-bound from {compute_from}" if compute_from else "")
        + f"; efficiencies from {PUBLISHED_SOURCE}"
    )
    return BatchCurve(
        model=model_id,
        single_tokens_per_s=aggregate[0],
        aggregate_tokens_per_s=tuple(aggregate),
        prompt_tokens_per_s=prompt,
        slots=slots,
        compute_bound_from=compute_from,
        detail=detail,
    )
