"""Price the catalog's offers from each cloud's own price source; merge them into the snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl.catalog.price_snapshot import (
    PriceSource,
    SnapshotFile,
    key,
    read_snapshot,
    write_snapshot,
)
from hybridctl.catalog.schema import Catalog, Source
from hybridctl.errors import InputError, OperationFailed
from hybridctl.providers.prices import (
    FetchResult,
    PricedOffer,
    Wanted,
    fetcher_for,
    priced_clouds,
)
from hybridctl.suggest import close_matches

PROVIDERS = priced_clouds()


@dataclass(frozen=True)
class Row:
    """One offer of the table: its price before and after, or why it kept the old one."""

    provider: str
    instance_type: str
    region: str
    old_usd: float
    new_usd: float | None
    reason: str | None = None  # why it was not priced

    @property
    def change_pct(self) -> float | None:
        if self.new_usd is None or not self.old_usd:
            return None
        return round((self.new_usd - self.old_usd) / self.old_usd * 100, 1) + 0.0  # no "-0.0"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "instance_type": self.instance_type,
            "region": self.region,
            "old_monthly_usd": self.old_usd,
            "new_monthly_usd": self.new_usd,
            "change_pct": self.change_pct,
            "not_priced_because": self.reason,
        }


@dataclass
class Refreshed:
    """What a refresh did: the file it wrote, the table, and what it left out."""

    path: Path
    as_of: str
    usd_per_eur: float
    providers: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # providers without credentials

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "as_of": self.as_of,
            "usd_per_eur": self.usd_per_eur,
            "providers": self.providers,
            "offers": [row.as_dict() for row in self.rows],
            "notes": self.notes,
            "skipped": self.skipped,
        }


def check_provider(name: str) -> str:
    """The provider name, or an InputError suggesting the close ones."""
    if name in PROVIDERS:
        return name
    guess = close_matches(name, PROVIDERS)
    raise InputError(
        f"no price source for provider {name!r}" + (f"; did you mean {guess}?" if guess else ""),
        hint=f"Prices are read for: {', '.join(PROVIDERS)}.",
    )


def wanted_offers(catalog: Catalog, provider: str, region: str | None) -> list[Wanted]:
    """The catalog's offers of one provider (in one region when given), each once."""
    found: dict[tuple[str, str, str], Wanted] = {}
    for tier in catalog.tiers:
        for offer in tier.offers:
            if offer.provider != provider or (region and offer.region != region):
                continue
            found.setdefault(
                key(offer.provider, offer.instance_type, offer.region),
                Wanted(
                    provider=offer.provider,
                    instance_type=offer.instance_type,
                    region=offer.region,
                    vcpu=offer.vcpu,
                    ram_gib=offer.ram_gib,
                    gpu_model=tier.gpu.model if tier.gpu else None,
                    gpu_count=tier.gpu.count if tier.gpu else 0,
                ),
            )
    return list(found.values())


def _fetchers(
    providers: list[str], environ: Mapping[str, str], chosen: bool
) -> tuple[dict[str, Any], list[str]]:
    """Each provider's fetcher; without --provider, those lacking credentials are skipped."""
    from hybridctl.errors import UsageError

    fetchers: dict[str, Any] = {}
    skipped: list[str] = []
    for provider in providers:
        try:
            fetchers[provider] = fetcher_for(provider, environ)
        except UsageError as exc:  # missing credentials, or boto3 for AWS
            if chosen:
                raise
            skipped.append(f"{provider}: {exc.message}")
    if not fetchers:
        raise UsageError(  # each price source named what it needs in `skipped`
            "no price source has its credentials set",
            hint="Set one source's (or name it with --provider): " + "; ".join(skipped),
        )
    return fetchers, skipped


def refresh(
    catalog: Catalog,
    *,
    out: Path,
    today: str,
    environ: Mapping[str, str],
    provider: str | None = None,
    region: str | None = None,
    usd_per_eur: float | None = None,
) -> Refreshed:
    """Fetch the prices, merge them into the snapshot at `out` and write it; the table to show."""
    providers = [check_provider(provider)] if provider else list(PROVIDERS)
    rate, rate_source = _exchange_rate(catalog, usd_per_eur, today)
    wanted = {p: wanted_offers(catalog, p, region) for p in providers}
    if not any(wanted.values()):
        where = f" in region {region!r}" if region else ""
        raise InputError(f"the catalog has no {' or '.join(providers)} offer{where} to price")
    fetchers, skipped = _fetchers([p for p in providers if wanted[p]], environ, bool(provider))
    results: dict[str, FetchResult] = {
        name: fetch(wanted[name], rate, today) for name, fetch in fetchers.items()
    }
    priced = [offer for result in results.values() for offer in result.priced]
    if not priced:
        reasons = [f"{w.label}: {why}" for r in results.values() for w, why in r.missing]
        raise OperationFailed(
            "no offer could be priced: " + "; ".join(reasons),
            hint="The price snapshot was left as it was.",
        )
    snapshot = _merge(_existing(out), priced, today, rate, rate_source)
    write_snapshot(out, snapshot)
    done = Refreshed(out, today, rate, sorted(results), skipped=skipped)
    old = {
        key(o.provider, o.instance_type, o.region): o.monthly_usd
        for t in catalog.tiers
        for o in t.offers
    }
    for offer in priced:
        k = key(offer.provider, offer.instance_type, offer.region)
        done.rows.append(Row(*k, old_usd=old[k], new_usd=offer.monthly_usd))
    for result in results.values():
        for w, why in result.missing:
            k = key(w.provider, w.instance_type, w.region)
            done.rows.append(Row(*k, old_usd=old[k], new_usd=None, reason=why))
        done.notes.extend(result.notes)
    return done


def _exchange_rate(catalog: Catalog, given: float | None, today: str) -> tuple[float, Source]:
    if given is not None:
        return given, Source(ref="given with `hybridctl prices refresh --usd-per-eur`", as_of=today)
    if catalog.price_snapshot is None:
        raise InputError(
            "the catalog records no exchange rate to turn EUR prices into USD",
            hint="Give one with --usd-per-eur (e.g. the ECB's euro reference rate of the day).",
        )
    return catalog.price_snapshot.usd_per_eur, catalog.price_snapshot.exchange_rate_source


def _existing(path: Path) -> SnapshotFile | None:
    """The snapshot already at path (kept for the providers not refreshed now), if any."""
    return read_snapshot(path) if path.exists() else None


def _merge(
    existing: SnapshotFile | None,
    priced: list[PricedOffer],
    today: str,
    rate: float,
    rate_source: Source,
) -> SnapshotFile:
    kept = existing.offers if existing else []
    entries = {key(e.provider, e.instance_type, e.region): e for e in kept}
    for offer in priced:
        entry = PriceSource.model_validate(offer.as_dict())
        entries[key(offer.provider, offer.instance_type, offer.region)] = entry
    ordered = sorted(entries.values(), key=lambda e: (e.provider, e.region, e.instance_type))
    return SnapshotFile(
        version=1,
        as_of=today,
        usd_per_eur=rate,
        exchange_rate_source=rate_source,
        offers=ordered,
    )
