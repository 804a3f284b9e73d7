"""The catalog: load tiers.yaml once, validated and cross-checked, and look things up in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.catalog.schema import Catalog, Model, Tier
from hybridctl.errors import CatalogError, InputError
from hybridctl.paths import default_catalog_path, prices_path
from hybridctl.suggest import close_matches

__all__ = ["Catalog", "Report", "find_model", "find_tier", "load_catalog", "validate_catalog"]


@dataclass(frozen=True)
class Report:
    path: Path
    catalog: Catalog
    warnings: list[str]
    # Where a deployable offer's vCPUs or RAM differ from its tier's (the offer's are deployed).
    offers: list[str] = field(default_factory=list)


def validate_catalog(path: Path | None = None) -> Report:
    """Load and fully check a catalog; raises CatalogError listing every problem at once."""
    from hybridctl.catalog.checks import cross_check  # with YAML: only when not cached
    from hybridctl.catalog.loader import parse_catalog

    path = path or default_catalog_path()
    catalog, index = parse_catalog(path)
    findings = cross_check(catalog, path, index)
    if findings.problems:
        raise CatalogError(str(path), findings.problems)
    return Report(path=path, catalog=catalog, warnings=findings.warnings, offers=findings.offers)


_cache: dict[tuple[Path, float], Catalog] = {}


def load_catalog(path: Path | None = None) -> Catalog:
    """The validated catalog at path (default: $HYBRIDCTL_CATALOG or the shipped tiers.yaml),
    with the user's price snapshot (`hybridctl prices refresh`) read over its offers."""
    path = (path or default_catalog_path()).resolve()
    try:
        key = (path, path.stat().st_mtime)
    except OSError:
        key = (path, -1.0)
    if key not in _cache:
        from hybridctl.catalog.cache import load_cached

        _cache[key] = load_cached(path, lambda p: validate_catalog(p).catalog)
    prices = prices_path()
    try:
        mtime_ns = prices.stat().st_mtime_ns
    except OSError:  # no snapshot (`prices refresh` writes one): the catalog's own prices
        return _cache[key]
    from hybridctl.catalog.price_snapshot import with_snapshot

    # After the cache: the snapshot is its own file, read (and checked) when it changes.
    return with_snapshot(_cache[key], prices, mtime_ns)


def find_tier(catalog: Catalog, tier_id: str) -> Tier:
    """The tier with this id, or an InputError suggesting the close ones."""
    try:
        return catalog.tier(str(tier_id))
    except KeyError:
        guess = close_matches(str(tier_id), catalog.tier_ids)
        raise InputError(
            f"unknown tier {tier_id!r}" + (f"; did you mean {guess}?" if guess else ""),
            hint=f"Known tiers: {', '.join(catalog.tier_ids)} (see `hybridctl tiers`).",
        ) from None


def find_model(catalog: Catalog, model_id: str) -> Model:
    """The registry model with this id, or an InputError suggesting the close ones."""
    if model_id in catalog.models:
        return catalog.models[model_id]
    guess = close_matches(model_id, list(catalog.models))
    raise InputError(
        f"unknown model {model_id!r}" + (f"; did you mean {guess}?" if guess else ""),
        hint="See `hybridctl models` for the registry.",
    )


# CatalogError is re-exported for callers that catch it specifically.
CatalogError = CatalogError
