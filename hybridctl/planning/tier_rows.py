"""One row per tier for `hybridctl tiers`: hardware, models, predicted speeds, cheapest offer."""

from __future__ import annotations

from typing import Any

from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.catalog.sizing import tier_memory_budget
from hybridctl.planning.speed import predict


def tier_rows(cat: Catalog) -> list[dict[str, Any]]:
    """Every tier of the catalog as a JSON-ready row, in catalog order."""
    return [_row(cat, tier) for tier in cat.tiers]


def _row(cat: Catalog, tier: Tier) -> dict[str, Any]:
    budget = tier_memory_budget(cat, tier)
    deployable = [o for o in tier.offers if not o.reference_only]
    cheapest = min(deployable, key=lambda o: o.monthly_usd, default=None)
    return {
        "id": tier.id,
        "name": tier.name,
        "ram_gib": tier.ram_gib,
        "vcpu": tier.vcpu,
        "gpu": tier.gpu.model if tier.gpu else None,
        "disk_gb": tier.disk_gb,
        "transfer_tb": tier.transfer_tb,
        "requests_per_day": tier.requests_per_day.model_dump(),
        "runtime": tier.runtime,
        "models": [m.model for m in tier.models],
        "speeds": [_speed(cat, tier.id, m.model) for m in tier.models],
        "memory_free_mib": round(budget.free_mib),
        "cheapest_offer": cheapest.model_dump(exclude={"price_source", "note"})
        if cheapest
        else None,
        "offers": [o.model_dump(mode="json") for o in tier.offers],
    }


def _speed(cat: Catalog, tier_id: str, model_id: str) -> dict[str, Any] | None:
    if model_id not in cat.models:
        return None
    p = predict(cat, tier_id, model_id)
    return {
        "model": model_id,
        "generation_tokens_per_s": round(p.generation_tokens_per_s, 2),
        "prompt_tokens_per_s": round(p.prompt_tokens_per_s, 1),
        "aggregate_tokens_per_s": round(p.aggregate_tokens_per_s, 2),
        "parallel_slots": p.parallel_slots,
        "source": p.source,
        "detail": p.detail,
    }
