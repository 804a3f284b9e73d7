"""`bench --tune`'s search space: server settings, their grid, and whether each fits the tier."""

from __future__ import annotations

import itertools
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING, Any

from hybridctl.bench import defaults

if TYPE_CHECKING:
    from hybridctl.catalog.schema import Catalog, Tier


@dataclass(frozen=True)
class Setting:
    """One model-server configuration (None flash attention: llama.cpp's auto)."""

    threads: int
    parallel_slots: int
    batch_size: int = defaults.BATCH_SIZE
    ubatch_size: int = defaults.UBATCH_SIZE
    flash_attn: bool | None = defaults.FLASH_ATTN
    kv_type: str = defaults.KV_TYPE
    repack: bool = False

    def label(self) -> str:
        flash = {None: "auto", True: "on", False: "off"}[self.flash_attn]
        return (
            f"t{self.threads} np{self.parallel_slots} b{self.batch_size}/{self.ubatch_size} "
            f"fa-{flash} kv-{self.kv_type} {'repack' if self.repack else 'no-repack'}"
        )


@dataclass(frozen=True)
class Grid:
    threads: tuple[int, ...]
    parallel_slots: tuple[int, ...]
    batches: tuple[tuple[int, int], ...] = ((defaults.BATCH_SIZE, defaults.UBATCH_SIZE), (512, 128))
    flash_attn: tuple[bool | None, ...] = (True, False)
    kv_types: tuple[str, ...] = ("f16", "q8_0")
    repack: tuple[bool, ...] = (True, False)

    def settings(self) -> list[Setting]:
        combos = itertools.product(
            self.threads,
            self.parallel_slots,
            self.batches,
            self.flash_attn,
            self.kv_types,
            self.repack,
        )
        return [
            Setting(t, n, b, ub, fa, kv, rp)
            for t, n, (b, ub), fa, kv, rp in combos
            if not (kv != "f16" and fa is False)  # a quantized V cache needs flash attention
        ]


def default_setting(tier: Tier, threads: int) -> Setting:
    """What the rendered server runs today: the tier's slots and batches (llama.cpp's defaults
    unless the tier sets them)."""
    return Setting(
        threads,
        tier.parallel_slots,
        batch_size=tier.batch_size,
        ubatch_size=tier.ubatch_size,
        repack=tier.weight_repacking and not tier.gpu,
    )


def distance(setting: Setting, other: Setting) -> int:
    """How many of the two settings' values differ."""
    return sum(a != b for a, b in zip(astuple(setting), astuple(other), strict=True))


def default_grid(tier: Tier, cpus: int) -> Grid:
    slots = {1, tier.parallel_slots, min(tier.promises.max_concurrent, 2 * tier.parallel_slots)}
    return Grid(
        threads=tuple(sorted({max(1, cpus // 2), cpus})),
        parallel_slots=tuple(sorted(slots)),
        repack=(False,) if tier.gpu else (True, False),
    )


def model_need_mib(info: Any, tier: Tier, setting: Setting) -> float:
    """The setting's estimated footprint at the tier's context (MiB, without the bench process)."""
    from hybridctl.bench.footprint import estimate

    footprint = estimate(
        info,
        tier.context_tokens,
        setting.ubatch_size,
        parallel_slots=setting.parallel_slots,
        repack=setting.repack,
        flash_attn=setting.flash_attn is not False,
        kv_type=setting.kv_type,
    )
    return footprint.total_mib - footprint.overhead_mib


def fits_tier(catalog: Catalog, tier: Tier, setting: Setting) -> bool:
    """Whether the tier still fits its memory with this setting, as `validate` sizes it."""
    from hybridctl.catalog.schema import ServerTuning
    from hybridctl.catalog.sizing import tier_memory_budget

    trial = ServerTuning(
        threads=setting.threads,
        batch_size=setting.batch_size,
        ubatch_size=setting.ubatch_size,
        flash_attn=setting.flash_attn,
        kv_cache_type=setting.kv_type,  # type: ignore[arg-type]
        repack=setting.repack,
        parallel_slots=setting.parallel_slots,
        tokens_per_s=1,
        default_tokens_per_s=1,
        machine="-",
        date="2026",
        command="bench --tune",
    )
    return tier_memory_budget(catalog, tier.model_copy(update={"tuning": trial})).fits
