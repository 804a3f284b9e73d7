"""Memory and bandwidth math for models on a tier: pure functions of catalog numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from hybridctl.catalog.resources import ServerResources, server_resources
from hybridctl.catalog.schema import Architecture, Catalog, Model, Tier

MIB = 1024 * 1024
KV_BYTES_PER_VALUE = 2  # llama.cpp's default f16 KV cache
KV_TYPE_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
# Share of the layer weights llama.cpp's x86 CPU backend repacks (ggml-cpu/repack.cpp repacks
# Q4_0, Q4_K and IQ4_NL; token_embd and a Q6_K output stay in the mapped file alone). Q4_K_M
# keeps about half of attn_v and ffn_down in Q6_K: 83% of TinyLlama's layer weights and 80% of a
# Mistral-7B-shaped file's were repacked (llama.cpp's CPU_REPACK buffer: 455 and 3,204 MiB).
# Types not listed are not repacked on x86.
REPACK_SHARE = {"Q4_K_M": 0.81, "Q4_0": 1.0, "IQ4_NL": 1.0}
# bits per weight of token_embd and output in llama.cpp's K-quant mixes (Q4_K and Q6_K)
_EMBED_OUTPUT_BITS = 4.5 + 6.5625


def weights_mib(model: Model) -> float:
    """The weights as llama.cpp maps them: the GGUF file size."""
    return model.file_size_mb * 1_000_000 / MIB


def kv_cache_mib(
    arch: Architecture, context_tokens: int, parallel_slots: int, kv_type: str = "f16"
) -> float:
    """K and V for every layer, every KV head, over the context of every parallel slot."""
    head_dim = arch.embedding / arch.heads
    values = 2 * arch.layers * context_tokens * parallel_slots * arch.kv_heads * head_dim
    return values * KV_TYPE_BYTES[kv_type] / MIB


def repacked_mib(model: Model) -> float:
    """The second copy of the weights CPU repacking keeps (0 for types it does not repack)."""
    share = REPACK_SHARE.get(model.quantization.upper(), 0.0)
    arch = model.architecture
    embed_output = arch.vocab * arch.embedding * _EMBED_OUTPUT_BITS / 8 / MIB
    return share * max(0.0, weights_mib(model) - embed_output)


def served_parallel_slots(tier: Tier) -> int:
    """Parallel slots the tier's model server runs (hybridctl.catalog.resources)."""
    return server_resources(tier).parallel_slots


def served_repacking(tier: Tier) -> bool:
    """Whether the tier's server repacks weights (never on a GPU tier: they live in VRAM)."""
    return server_resources(tier).repack


def compute_buffer_mib(
    arch: Architecture, context_tokens: int, ubatch: int, *, flash_attn: bool = True
) -> float:
    """The CPU compute buffer llama.cpp reserves for one micro-batch: its graph's widest stage.

    The output stage holds the logits of every token of the micro-batch beside two hidden
    states; without flash attention the attention stage holds every head's scores over one
    slot's context. f32 throughout. The bench's estimator (hybridctl.bench.footprint) reads the
    same shapes from the GGUF header; llama.cpp logs 70.50 MiB for TinyLlama at micro-batch 512
    (docs/plans-speed.md), and this gives about 300 MiB for Qwen2.5 1.5B's 151,936-token
    vocabulary.
    """
    rows = min(ubatch, context_tokens)
    output = arch.vocab + 2 * arch.embedding
    attention = (
        0 if flash_attn else context_tokens * arch.heads + 3 * arch.embedding + arch.feed_forward
    )
    feed = 2 * arch.feed_forward + 2 * arch.embedding
    return 4 * rows * max(output, attention, feed) / MIB


def model_memory_mib(
    model: Model,
    context_tokens: int,
    parallel_slots: int,
    runtime_overhead_mib: int,
    *,
    repacked: bool = False,
    kv_type: str = "f16",
    ubatch: int = 512,
    flash_attn: bool = True,
) -> float:
    """Resident memory of one loaded model: mapped weights + their repacked copy when repacking
    + KV cache + the compute buffer for one micro-batch + the process around it."""
    weights = weights_mib(model) + (repacked_mib(model) if repacked else 0.0)
    arch = model.architecture
    return (
        weights
        + kv_cache_mib(arch, context_tokens, parallel_slots, kv_type)
        + compute_buffer_mib(arch, context_tokens, ubatch, flash_attn=flash_attn)
        + runtime_overhead_mib
    )


def served_model_mib(catalog: Catalog, model: Model, resources: ServerResources) -> float:
    """One model's resident memory in the model server `resources` describes."""
    return model_memory_mib(
        model,
        resources.context_tokens,
        resources.parallel_slots,
        catalog.stack.runtime_overhead_mib,
        repacked=resources.repack,
        kv_type=resources.kv_cache_type,
        ubatch=resources.ubatch_size,
        flash_attn=resources.flash_attn is not False,
    )


def bytes_per_token(model: Model) -> float:
    """Bytes generation reads from memory per token: every weight once."""
    return model.file_size_mb * 1_000_000


def roofline_tokens_per_s(model: Model, bandwidth_gbs: float) -> float:
    """The generation speed memory bandwidth allows, at best."""
    return bandwidth_gbs * 1e9 / bytes_per_token(model)


def tier_bandwidth_gbs(tier: Tier) -> float:
    """Bandwidth generation runs at: the GPU's when the tier has one, else the host's."""
    return tier.gpu.memory_bandwidth_gbs if tier.gpu else tier.memory_bandwidth_gbs


@dataclass(frozen=True)
class MemoryBudget:
    """Where a tier's memory goes; models live in VRAM on a GPU tier."""

    ram_mib: float
    os_reserved_mib: int
    services_mib: dict[str, int]
    models_mib: dict[str, float]
    headroom_fraction: float
    vram_mib: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def services_total_mib(self) -> int:
        return sum(self.services_mib.values())

    @property
    def models_total_mib(self) -> float:
        return sum(self.models_mib.values())

    @property
    def models_pool_mib(self) -> float:
        """Memory the models may use: VRAM on a GPU tier, else RAM after OS, services, headroom."""
        if self.vram_mib is not None:
            return self.vram_mib * (1 - self.headroom_fraction)
        usable = self.ram_mib * (1 - self.headroom_fraction)
        return usable - self.os_reserved_mib - self.services_total_mib

    @property
    def free_mib(self) -> float:
        """What is left in the models' pool once every model is loaded (negative: does not fit)."""
        return self.models_pool_mib - self.models_total_mib

    @property
    def fits(self) -> bool:
        host_ok = self.os_reserved_mib + self.services_total_mib <= self.ram_mib * (
            1 - self.headroom_fraction
        )
        return host_ok and self.free_mib >= 0


def tier_memory_budget(catalog: Catalog, tier: Tier) -> MemoryBudget:
    """The memory budget of a tier serving all its models at once (one server process each)."""
    stack = catalog.stack
    services: dict[str, int] = {name: stack.services[name].memory_mib for name in tier.services}
    resources = server_resources(tier)
    models = {
        entry.model: served_model_mib(catalog, catalog.models[entry.model], resources)
        for entry in tier.models
        if entry.model in catalog.models
    }
    return MemoryBudget(
        ram_mib=tier.ram_gib * 1024,
        os_reserved_mib=stack.os_reserved_mib,
        services_mib=services,
        models_mib=models,
        headroom_fraction=stack.headroom_fraction,
        vram_mib=tier.gpu.vram_gib * tier.gpu.count * 1024 if tier.gpu else None,
    )
