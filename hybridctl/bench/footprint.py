"""Estimate the memory a model needs in llama.cpp from its GGUF header, before loading it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .ggufmeta import GGUFInfo

MIB = 1 << 20
RUNTIME_OVERHEAD_MIB = 96.0
"""Python, the llama.cpp library, thread stacks and small buffers (measured about 80-100 MiB)."""


@dataclass(frozen=True)
class Footprint:
    weights_mib: float
    kv_cache_mib: float
    compute_mib: float
    overhead_mib: float

    @property
    def total_mib(self) -> float:
        return self.weights_mib + self.kv_cache_mib + self.compute_mib + self.overhead_mib

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in {**asdict(self), "total_mib": self.total_mib}.items()}


def estimate(info: GGUFInfo, context_tokens: int, ubatch: int) -> Footprint:
    """Weights (the tensor data, all of it touched per token) + f16 KV cache + compute buffers."""
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

    kv_bytes = 2 * layers * context_tokens * kv_heads * (key_length + value_length)  # f16
    # llama.cpp's CPU compute buffer holds one ubatch's activations: logits plus the widest
    # intermediate tensors (attention scores over the context, the feed-forward).
    rows = min(ubatch, context_tokens)
    compute_bytes = 4 * rows * (vocab + 3 * int(feed_forward) + 4 * embedding)
    compute_bytes += 4 * rows * heads * context_tokens
    return Footprint(
        weights_mib=info.tensor_bytes / MIB,
        kv_cache_mib=kv_bytes / MIB,
        compute_mib=compute_bytes / MIB,
        overhead_mib=RUNTIME_OVERHEAD_MIB,
    )
