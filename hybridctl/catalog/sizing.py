"""Memory and bandwidth math for models on a tier: pure functions of catalog numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """Parallel slots the tier's model server runs: the tuned figure, else the tier's."""
    return tier.tuning.parallel_slots if tier.tuning else tier.parallel_slots


def served_repacking(tier: Tier) -> bool:
    """Whether the tier's server repacks weights (never on a GPU tier: they live in VRAM)."""
    if tier.gpu is not None:
        return False
    return tier.tuning.repack if tier.tuning else tier.weight_repacking


def model_memory_mib(
    model: Model,
    context_tokens: int,
    parallel_slots: int,
    runtime_overhead_mib: int,
    *,
    repacked: bool = False,
    kv_type: str = "f16",
) -> float:
    """Resident memory of one loaded model: mapped weights + their repacked copy when repacking
    + KV cache + the runtime's compute-buffer allowance."""
    weights = weights_mib(model) + (repacked_mib(model) if repacked else 0.0)
    return (
        weights
        + kv_cache_mib(model.architecture, context_tokens, parallel_slots, kv_type)
        + runtime_overhead_mib
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
    models = {
        entry.model: model_memory_mib(
            catalog.models[entry.model],
            tier.context_tokens,
            served_parallel_slots(tier),
            stack.runtime_overhead_mib,
            repacked=served_repacking(tier),
            kv_type=tier.tuning.kv_cache_type if tier.tuning else "f16",
        )
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
