"""What to measure: the bench plan (PLAN.json) from the catalog's tier and the local model files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridctl.bench import defaults
from hybridctl.bench_host.model_files import (
    ModelFile,
    check_gguf,
    file_sha256,
    quantization_from_name,
)
from hybridctl.errors import InputError

if TYPE_CHECKING:
    from hybridctl.catalog.schema import Catalog, Tier


def bench_plan(
    cat: Catalog | None,
    tier: Tier | None,
    files: list[ModelFile],
    repetitions: int,
    prompt_tokens: int,
    gen_tokens: int,
    threads: int | None,
    skip_bandwidth: bool,
) -> dict[str, Any]:
    """The plan for `hybridctl bench`'s options; no bandwidth probe if skipped."""
    plan = build_plan(
        cat,
        tier,
        files,
        repetitions=repetitions,
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        threads=threads,
    )
    if skip_bandwidth:
        plan["measure_bandwidth"] = False
    return plan


def model_budgets_mib(catalog: Catalog, tier: Tier) -> dict[str, float]:
    """Each model's share of the memory the tier leaves for models, in proportion to its need."""
    from hybridctl.catalog.sizing import tier_memory_budget

    budget = tier_memory_budget(catalog, tier)
    total = budget.models_total_mib
    if total <= 0:
        return {}
    return {
        name: round(budget.models_pool_mib * need / total, 1)
        for name, need in budget.models_mib.items()
    }


def _settings(
    repetitions: int, prompt_tokens: int, gen_tokens: int, threads: int | None
) -> dict[str, Any]:
    if repetitions < 1:
        raise InputError(f"--repetitions must be at least 1, got {repetitions}")
    if prompt_tokens < 0 or gen_tokens < 1:
        raise InputError(
            f"--prompt-tokens must be >= 0 and --gen-tokens >= 1, got {prompt_tokens} and "
            f"{gen_tokens}"
        )
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    return {
        "repetitions": repetitions,
        "prompt_tokens": prompt_tokens,
        "gen_tokens": gen_tokens,
        "threads": threads,
    }


def build_plan(
    catalog: Catalog | None,
    tier: Tier | None,
    model_files: list[ModelFile],
    *,
    repetitions: int = defaults.REPETITIONS,
    prompt_tokens: int = defaults.PROMPT_TOKENS,
    gen_tokens: int = defaults.GEN_TOKENS,
    threads: int | None = defaults.THREADS,
) -> dict[str, Any]:
    """The bench plan (PLAN.json) for a tier's models, local model files, or both.

    With a tier, every model of the tier is benched against its promised tokens/s and its
    share of the tier's memory; a file given as CATALOG_ID=PATH stands in for that model's
    download. Files without an id are benched with no promise (figures only).
    """
    if tier is None and not model_files:
        raise InputError(
            "nothing to bench", hint="Pass --tier T (the tier's models) or --model PATH."
        )
    for model_file in model_files:
        check_gguf(model_file.path)
    plan: dict[str, Any] = {
        "models": [],
        **_settings(repetitions, prompt_tokens, gen_tokens, threads),
        "tier": tier.id if tier else None,
        # Measure what the box runs: the tier's repacking setting, as its model server uses it.
        "repack": tier.weight_repacking if tier else defaults.REPACK,
        **(server_settings(tier) if tier else {}),
    }
    local_copies = {f.model_id: f.path for f in model_files if f.model_id}
    if tier is not None:
        assert catalog is not None
        plan["models"] += _tier_models(catalog, tier, local_copies)
    elif local_copies:
        unknown = ", ".join(local_copies)
        raise InputError(
            f"--model {unknown}=PATH binds a file to a catalog model, which needs --tier",
            hint="Add --tier T, or pass the plain file path to bench it without promises.",
        )
    for model_file in model_files:
        if model_file.model_id:
            continue
        plan["models"].append(
            {
                "name": _unique_name(model_file.path.stem, plan["models"]),
                "path": str(model_file.path.resolve()),
                "uri": None,
                "sha256": None,
                "quantization": quantization_from_name(model_file.path.name),
                "promised_tokens_per_s": None,
                "memory_budget_mib": None,
            }
        )
    return plan


def _tier_models(
    catalog: Catalog, tier: Tier, local_copies: dict[str, Path]
) -> list[dict[str, Any]]:
    """The plan's entries for every model of the tier, with its promise and memory share."""
    budgets = model_budgets_mib(catalog, tier)
    tier_ids = [entry.model for entry in tier.models]
    for model_id in local_copies:
        if model_id not in tier_ids:
            raise InputError(
                f"--model {model_id}=... names a model tier {tier.id} does not serve",
                hint=f"Tier {tier.id} serves: {', '.join(tier_ids)}.",
            )
    entries = []
    for entry in tier.models:
        model = catalog.models[entry.model]
        local = local_copies.get(entry.model)
        # A local copy keeps the catalog's checksum only when it is the catalog's file; a
        # stand-in (e.g. a synthetic model of the same shape) is benched without one.
        same_file = local is not None and model.sha256 == file_sha256(local)
        entries.append(
            {
                "name": entry.model,
                "path": str(local.resolve()) if local else None,
                "uri": None if local else model.uri,
                "sha256": model.sha256 if (local is None or same_file) else None,
                "quantization": model.quantization,
                "promised_tokens_per_s": entry.promised_tokens_per_s,
                "memory_budget_mib": budgets.get(entry.model),
            }
        )
    return entries


def server_settings(tier: Tier) -> dict[str, Any]:
    """The model server's settings the bench reproduces: parallel slots, and the tuned ones
    (threads stay the bench's: --threads, else the machine's cores)."""
    from hybridctl.catalog.sizing import served_parallel_slots, served_repacking

    settings: dict[str, Any] = {
        "parallel_slots": served_parallel_slots(tier),
        "repack": served_repacking(tier),
    }
    if tier.tuning is not None:
        settings.update(
            batch_size=tier.tuning.batch_size,
            ubatch_size=tier.tuning.ubatch_size,
            flash_attn=tier.tuning.flash_attn,
            kv_type=tier.tuning.kv_cache_type,
        )
    return settings


def catalog_files(plan: dict[str, Any], catalog: Catalog) -> set[str]:
    """Plan entries that bench the catalog's own file: downloaded from its URI, or checksummed."""
    names = set()
    for entry in plan.get("models", []):
        model = catalog.models.get(entry.get("name"))
        if model is None:
            continue
        if entry.get("uri") == model.uri or (
            entry.get("sha256") is not None and entry.get("sha256") == model.sha256
        ):
            names.add(entry["name"])
    return names


def _unique_name(base: str, models: list[dict[str, Any]]) -> str:
    taken = {m["name"] for m in models}
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name
