"""The price snapshot file that `prices refresh` writes and the catalog reads over its offers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from hybridctl.catalog.schema import (
    Catalog,
    Day,
    Offer,
    PositiveFloat,
    PriceSnapshot,
    Source,
    Strict,
)
from hybridctl.errors import CatalogError, InputError
from hybridctl.paths import not_a_file

_HEADER = (
    "# Server prices read from the providers' own price sources by `hybridctl prices refresh`.\n"
    "# hybridctl reads them over the catalog's offers (same provider, instance type and region).\n"
    "# Delete this file to go back to the shipped prices.\n"
)


class PriceSource(Strict):
    """One offer as a provider's price source priced it."""

    provider: str = Field(min_length=1)
    instance_type: str = Field(min_length=1)
    region: str = Field(min_length=1)
    vcpu: PositiveFloat
    ram_gib: PositiveFloat
    gpu: str | None = None
    price: PositiveFloat = Field(description="in currency per unit, as the source gives it")
    currency: Literal["USD", "EUR"]
    unit: Literal["month", "hour"]
    usd_per_eur: PositiveFloat | None = None
    monthly_usd: PositiveFloat
    source: str = Field(min_length=3, description="the address that was read")
    detail: str = Field(min_length=1, description="how the price was read, in words")
    as_of: Day


class SnapshotFile(Strict):
    """The file: when, the exchange rate used, and the priced offers."""

    version: Literal[1]
    as_of: Day
    usd_per_eur: PositiveFloat
    exchange_rate_source: Source
    offers: list[PriceSource]


def read_snapshot(path: Path) -> SnapshotFile:
    """The snapshot file, validated; a bad one is an error naming the file, line and field."""
    from pydantic import ValidationError

    from hybridctl.catalog.loader import _parse, validation_problems

    problem = not_a_file(path)
    if problem:
        raise InputError(f"price snapshot {path} {problem}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read price snapshot {path}: {exc}") from None
    try:
        data, index = _parse(path, text)
    except CatalogError as exc:  # YAML syntax: the same message, about this file
        raise _invalid(path, exc.problems) from None
    if not isinstance(data, dict):
        raise _invalid(path, [f"{path}:1: a price snapshot is a YAML mapping"])
    try:
        return SnapshotFile.model_validate(data)
    except ValidationError as exc:
        raise _invalid(path, validation_problems(path, exc, index, SnapshotFile)) from None


def _invalid(path: Path, problems: list[str]) -> InputError:
    count = len(problems)
    lines = "\n".join(f"  {p}" for p in problems)
    return InputError(
        f"price snapshot {path} is invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}",
        hint=f"Fix the fields named above, run `hybridctl prices refresh` again, or delete {path}.",
    )


def write_snapshot(path: Path, snapshot: SnapshotFile) -> None:
    """Write the snapshot as YAML (atomically: a reader never sees half a file)."""
    import yaml

    body = yaml.safe_dump(snapshot.model_dump(mode="json"), sort_keys=False, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(_HEADER + body, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write price snapshot {path}: {exc.strerror}") from None


def key(provider: str, instance_type: str, region: str) -> tuple[str, str, str]:
    return (provider, instance_type, region)


def apply_snapshot(catalog: Catalog, snapshot: SnapshotFile, path: Path | None = None) -> Catalog:
    """The catalog with the snapshot's prices on the matching offers and its date on the bill."""
    prices = {key(p.provider, p.instance_type, p.region): p for p in snapshot.offers}
    used: set[tuple[str, str, str]] = set()
    tiers = []
    for tier in catalog.tiers:
        offers = []
        for offer in tier.offers:
            found = prices.get(key(offer.provider, offer.instance_type, offer.region))
            if found is None:
                offers.append(offer)
                continue
            used.add(key(offer.provider, offer.instance_type, offer.region))
            offers.append(_repriced(offer, found))
        tiers.append(tier.model_copy(update={"offers": offers}))
    if not used:
        return catalog
    shipped = catalog.price_snapshot
    providers = sorted({k[0] for k in used})
    note = (
        f"{len(used)} offers ({', '.join(providers)}) priced by `hybridctl prices refresh`"
        + (f" ({path})" if path else "")
        + "; the others keep the shipped prices"
        + (f" of {shipped.as_of}" if shipped else "")
        + "."
    )
    dated = PriceSnapshot.model_construct(
        as_of=snapshot.as_of,
        usd_per_eur=snapshot.usd_per_eur,
        exchange_rate_source=snapshot.exchange_rate_source,
        note=note,
    )
    return catalog.model_copy(update={"tiers": tiers, "price_snapshot": dated})


def _repriced(offer: Offer, price: PriceSource) -> Offer:
    source = Source.model_construct(ref=f"{price.source}: {price.detail}", as_of=price.as_of)
    return offer.model_copy(update={"monthly_usd": price.monthly_usd, "price_source": source})


@dataclass(frozen=True)
class _Applied:
    path: Path
    mtime_ns: int
    base: Catalog  # the catalog it was applied to
    catalog: Catalog


_last: list[_Applied] = []


def with_snapshot(catalog: Catalog, path: Path, mtime_ns: int) -> Catalog:
    """The catalog with the price snapshot at path over it (applied once per file version)."""
    for applied in _last:
        if applied.base is catalog and (applied.path, applied.mtime_ns) == (path, mtime_ns):
            return applied.catalog
    result = apply_snapshot(catalog, read_snapshot(path), path)
    _last[:] = [_Applied(path, mtime_ns, catalog, result)]
    return result
