"""Estimate the memory a model needs in llama.cpp from its GGUF header, before loading it.

The parts follow what llama.cpp allocates (its load and context logs name them): the mapped
model file, the CPU_REPACK copy of the weights it repacks, the KV cache over every slot's
context, and the compute buffer the scheduler reserves for one micro-batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import defaults
from .ggufmeta import GGUFInfo

MIB = 1 << 20
RUNTIME_OVERHEAD_MIB = 40.0
"""The bench process before a model loads: Python and the llama.cpp library (measured 41.6 MiB)."""

# ggml type ids llama.cpp's CPU backend repacks on x86 with AVX2 (ggml-cpu/repack.cpp:
# Q4_0, Q4_K, IQ4_NL, MXFP4), and Q2_K with AVX-512. Only matrix-multiplied weights are
# repacked, so token_embd (a row lookup) stays in the mapped file alone.
REPACK_TYPES_AVX2 = frozenset({2, 12, 20, 39})
REPACK_TYPES_AVX512 = frozenset({10})
KV_TYPE_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class Footprint:
    weights_mib: float
    kv_cache_mib: float
    compute_mib: float
    overhead_mib: float
    repack_mib: float = 0.0

    @property
    def total_mib(self) -> float:
        return (
            self.weights_mib
            + self.repack_mib
            + self.kv_cache_mib
            + self.compute_mib
            + self.overhead_mib
        )

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in {**asdict(self), "total_mib": self.total_mib}.items()}


def repack_types(cpu_flags: set[str] | None) -> frozenset[int]:
    """The ggml types this CPU repacks (none without AVX2; unknown flags: assume AVX2)."""
    if cpu_flags is None:
        return REPACK_TYPES_AVX2
    if "avx2" not in cpu_flags:
        return frozenset()
    return REPACK_TYPES_AVX2 | (REPACK_TYPES_AVX512 if "avx512f" in cpu_flags else frozenset())


def tensor_sizes(info: GGUFInfo) -> dict[str, int]:
    """Bytes of each tensor, from the offsets of the tensor table (the last runs to the end)."""
    ordered = sorted(info.tensors, key=lambda t: t.offset)
    end = info.file_size - info.data_offset
    stops = [t.offset for t in ordered[1:]] + [end]
    return {t.name: stop - t.offset for t, stop in zip(ordered, stops, strict=False)}


def repacked_bytes(info: GGUFInfo, types: frozenset[int]) -> int:
    sizes = tensor_sizes(info)
    return sum(
        sizes[t.name]
        for t in info.tensors
        if t.ggml_type in types and len(t.dims) == 2 and not t.name.startswith("token_embd")
    )


def kv_cache_bytes(
    layers: int, kv_heads: int, head_dim_k: int, head_dim_v: int, cells: int, kv_type: str = "f16"
) -> float:
    """K and V of every layer over `cells` (context x parallel slots) at the cache's type."""
    return layers * cells * kv_heads * (head_dim_k + head_dim_v) * KV_TYPE_BYTES[kv_type]


def compute_buffer_bytes(
    *,
    vocab: int,
    embedding: int,
    feed_forward: int,
    heads: int,
    context_per_slot: int,
    ubatch: int,
    flash_attn: bool = True,
) -> int:
    """The CPU compute buffer llama.cpp reserves: the widest stage of one ubatch's graph.

    The output stage holds the logits of every token of the ubatch beside two hidden states;
    without flash attention the attention stage holds the scores of every head over one
    slot's context, beside the hidden states and the feed-forward input (f32 throughout).
    """
    rows = ubatch
    output = vocab + 2 * embedding
    attention = 0 if flash_attn else context_per_slot * heads + 3 * embedding + feed_forward
    feed = 2 * feed_forward + 2 * embedding
    return 4 * rows * max(output, attention, feed)


def estimate(
    info: GGUFInfo,
    context_tokens: int,
    ubatch: int,
    *,
    parallel_slots: int = defaults.PARALLEL_SLOTS,
    repack: bool = False,
    flash_attn: bool = True,
    kv_type: str = defaults.KV_TYPE,
    cpu_flags: set[str] | None = None,
) -> Footprint:
    """Mapped weights + repacked copy + KV cache + compute buffer + the runtime around them."""
    layers = int(info.arch_value("block_count", 0) or 0)
    embedding = int(info.arch_value("embedding_length", 0) or 0)
    heads = int(info.arch_value("attention.head_count", 1) or 1)
    kv_heads = int(info.arch_value("attention.head_count_kv", heads) or heads)
    key_length = int(info.arch_value("attention.key_length", embedding // max(heads, 1)) or 0)
    value_length = int(info.arch_value("attention.value_length", key_length) or 0)
    feed_forward = info.arch_value("feed_forward_length", 4 * embedding) or 4 * embedding
    if isinstance(feed_forward, list):
        feed_forward = max(feed_forward) if feed_forward else 4 * embedding
    vocab = int(info.summary()["vocab"] or 32000)
    cells = context_tokens * parallel_slots
    kv = kv_cache_bytes(layers, kv_heads, key_length, value_length, cells, kv_type)
    compute = compute_buffer_bytes(
        vocab=vocab,
        embedding=embedding,
        feed_forward=int(feed_forward),
        heads=heads,
        context_per_slot=context_tokens,
        ubatch=min(ubatch, cells),
        flash_attn=flash_attn,
    )
    repacked = repacked_bytes(info, repack_types(cpu_flags)) if repack else 0
    return Footprint(
        weights_mib=info.tensor_bytes / MIB,
        kv_cache_mib=kv / MIB,
        compute_mib=compute / MIB,
        overhead_mib=RUNTIME_OVERHEAD_MIB,
        repack_mib=repacked / MIB,
    )
