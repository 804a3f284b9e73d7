"""Cross-checks a schema-valid catalog: references, duplicates, memory fit, bandwidth roofline."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hybridctl.catalog.loader import FieldPath, LineIndex, format_path
from hybridctl.catalog.roles import role_problems
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.catalog.sizing import roofline_tokens_per_s, tier_bandwidth_gbs, tier_memory_budget
from hybridctl.errors import InputError
from hybridctl.providers.names import CLOUDS
from hybridctl.suggest import close_matches


@dataclass
class Findings:
    """Problems make the catalog invalid; warnings are recorded claims that do not hold up."""

    path: Path
    index: LineIndex
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)  # offers that differ from their tier

    def _where(self, loc: FieldPath) -> str:
        line = self.index.line_of(loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def problem(self, loc: FieldPath, message: str) -> None:
        self.problems.append(f"{self._where(loc)}: {format_path(loc)}: {message}")

    def warning(self, loc: FieldPath, message: str) -> None:
        self.warnings.append(f"{self._where(loc)}: {format_path(loc)}: {message}")

    def offer(self, loc: FieldPath, message: str) -> None:
        self.offers.append(f"{self._where(loc)}: {format_path(loc)}: {message}")


def cross_check(catalog: Catalog, path: Path, index: LineIndex) -> Findings:
    findings = Findings(path, index)
    _check_unique_tiers(catalog, findings)
    _check_roles(catalog, findings)
    _check_references(catalog, findings)
    _check_offers(catalog, findings)
    _check_memory_fit(catalog, findings)
    _check_speeds(catalog, findings)
    _check_pinning(catalog, findings)
    _check_price_snapshot(catalog, findings)
    return findings


PRICE_SNAPSHOT_MAX_AGE_DAYS = 90


def price_snapshot_age(as_of: str | None, today: date) -> str | None:
    """Why the offers' prices need a refresh (none recorded, or older than 90 days), or None."""
    if as_of is None:
        return "no price snapshot date recorded: the offers' prices are of unknown age"
    age = (today - date.fromisoformat(as_of)).days
    if age > PRICE_SNAPSHOT_MAX_AGE_DAYS:
        return (
            f"the offers' prices were recorded on {as_of}, {age} days ago (more than "
            f"{PRICE_SNAPSHOT_MAX_AGE_DAYS}): check them against the providers' price lists"
        )
    return None


def _check_price_snapshot(catalog: Catalog, findings: Findings) -> None:
    snapshot = catalog.price_snapshot
    stale = price_snapshot_age(snapshot.as_of if snapshot else None, date.today())
    if stale:
        findings.warning(("price_snapshot", "as_of") if snapshot else ("version",), stale)


def _check_unique_tiers(catalog: Catalog, findings: Findings) -> None:
    counts = Counter(catalog.tier_ids)
    seen: set[str] = set()
    for i, tier in enumerate(catalog.tiers):
        if counts[tier.id] > 1 and tier.id in seen:
            findings.problem(("tiers", i, "id"), f"duplicate tier id {tier.id!r}")
        seen.add(tier.id)
        model_counts = Counter(entry.model for entry in tier.models)
        for j, entry in enumerate(tier.models):
            if model_counts[entry.model] > 1:
                findings.problem(("tiers", i, "models", j, "model"), "model listed twice")
                model_counts[entry.model] = 0


def _check_roles(catalog: Catalog, findings: Findings) -> None:
    for i, tier in enumerate(catalog.tiers):
        for loc, message in role_problems(tier.models):
            findings.problem(("tiers", i, *loc), message)


def _check_references(catalog: Catalog, findings: Findings) -> None:
    model_ids = list(catalog.models)
    for i, tier in enumerate(catalog.tiers):
        for j, entry in enumerate(tier.models):
            if entry.model not in catalog.models:
                guess = close_matches(entry.model, model_ids)
                hint = f" (did you mean {guess}?)" if guess else ""
                findings.problem(
                    ("tiers", i, "models", j, "model"),
                    f"unknown model {entry.model!r}{hint}",
                )
            elif tier.runtime not in catalog.models[entry.model].runtimes:
                findings.problem(
                    ("tiers", i, "models", j, "model"),
                    f"{entry.model} does not run on the tier's runtime {tier.runtime} "
                    f"(it runs on {', '.join(catalog.models[entry.model].runtimes)})",
                )
        for j, service in enumerate(tier.services):
            if service not in catalog.stack.services:
                findings.problem(
                    ("tiers", i, "services", j),
                    f"service {service!r} has no entry in stack.services",
                )
    routing = catalog.routing
    for route, names in routing.routes.items():
        for j, name in enumerate(names):
            if name not in catalog.cloud_models:
                guess = close_matches(name, list(catalog.cloud_models))
                hint = f" (did you mean {guess}?)" if guess else ""
                findings.problem(
                    ("routing", "routes", route, j), f"unknown cloud model {name!r}{hint}"
                )
            elif catalog.cloud_models[name].route != route:
                findings.problem(
                    ("routing", "routes", route, j),
                    f"{name} is a {catalog.cloud_models[name].route} model, listed under {route}",
                )
    try:
        routing.curve_for()
    except InputError as exc:
        findings.problem(("routing", "traffic"), f"{exc.message}; {exc.hint}")
    for i, scenario in enumerate(catalog.cost_scenarios):
        if scenario.tier not in catalog.tier_ids:
            guess = close_matches(scenario.tier, catalog.tier_ids)
            hint = f" (did you mean {guess}?)" if guess else ""
            findings.problem(("cost_scenarios", i, "tier"), f"unknown tier {scenario.tier!r}{hint}")


def _check_offers(catalog: Catalog, findings: Findings) -> None:
    for i, tier in enumerate(catalog.tiers):
        providers = Counter(offer.provider for offer in tier.offers)
        for j, offer in enumerate(tier.offers):
            loc: FieldPath = ("tiers", i, "offers", j)
            if providers[offer.provider] > 1:
                findings.problem((*loc, "provider"), f"a second offer from {offer.provider}")
                providers[offer.provider] = 0
            if not offer.reference_only and offer.provider not in CLOUDS:
                findings.problem(
                    (*loc, "provider"),
                    f"hybridctl cannot deploy to {offer.provider!r}; deployable providers are "
                    f"{', '.join(CLOUDS)} "
                    "(mark price references `reference_only: true`)",
                )
            if offer.reference_only:
                continue
            if offer.ram_gib < tier.ram_gib:
                findings.problem(
                    (*loc, "ram_gib"),
                    f"{offer.instance_type} has {offer.ram_gib:g} GiB, "
                    f"the tier needs {tier.ram_gib:g}",
                )
            if offer.vcpu < tier.vcpu:
                findings.problem(
                    (*loc, "vcpu"),
                    f"{offer.instance_type} has {offer.vcpu:g} vCPU, the tier needs {tier.vcpu:g}",
                )
            for name, has, tier_has, unit in (
                ("vcpu", offer.vcpu, tier.vcpu, "vCPU"),
                ("ram_gib", offer.ram_gib, tier.ram_gib, "GiB"),
            ):
                if has > tier_has:
                    findings.offer(
                        (*loc, name),
                        f"{offer.provider} {offer.instance_type} has {has:g} {unit}, the tier "
                        f"says {tier_has:g}: a plan for {offer.provider} and its box use the "
                        "offer's",
                    )
        for j, gone in enumerate(tier.unavailable):
            if gone.provider in providers:
                findings.problem(
                    ("tiers", i, "unavailable", j, "provider"),
                    f"{gone.provider} is both offered and declared unavailable",
                )


def _check_memory_fit(catalog: Catalog, findings: Findings) -> None:
    for i, tier in enumerate(catalog.tiers):
        budget = tier_memory_budget(catalog, tier)
        if budget.fits:
            continue
        models = ", ".join(f"{name} {mib:,.0f}" for name, mib in budget.models_mib.items())
        if budget.vram_mib is not None:
            where = f"VRAM {budget.vram_mib:,.0f} MiB less {budget.headroom_fraction:.0%} headroom"
        else:
            where = (
                f"RAM {budget.ram_mib:,.0f} MiB less {budget.headroom_fraction:.0%} headroom, "
                f"OS {budget.os_reserved_mib} MiB and services {budget.services_total_mib} MiB"
            )
        findings.problem(
            ("tiers", i, "models"),
            f"the models do not fit tier {tier.id}: they need {budget.models_total_mib:,.0f} MiB "
            f"(weights + KV cache at {tier.context_tokens} tokens x {tier.parallel_slots} slots "
            f"+ compute buffer at micro-batch {tier.ubatch_size} + process: {models}), but "
            f"{where} leave {budget.models_pool_mib:,.0f} MiB",
        )


def _check_speeds(catalog: Catalog, findings: Findings) -> None:
    for i, tier in enumerate(catalog.tiers):
        bandwidth = tier_bandwidth_gbs(tier)
        for j, entry in enumerate(tier.models):
            model = catalog.models.get(entry.model)
            if model is None:
                continue
            ceiling = roofline_tokens_per_s(model, bandwidth)
            if entry.promised_tokens_per_s > ceiling:
                findings.problem(
                    ("tiers", i, "models", j, "promised_tokens_per_s"),
                    f"{entry.promised_tokens_per_s:g} tok/s is above the bandwidth roofline: "
                    f"{bandwidth:g} GB/s / {model.file_size_mb / 1000:.2f} GB read per token "
                    f"= {ceiling:.1f} tok/s at most",
                )
    for model_id, model in catalog.models.items():
        for k, claim in enumerate(model.claims):
            _check_claim(catalog, model_id, k, claim.tokens_per_s, findings)


def _check_claim(
    catalog: Catalog, model_id: str, index: int, claimed: float, findings: Findings
) -> None:
    """A document's claim above every tier's roofline for that model is reported, not fatal."""
    model = catalog.models[model_id]
    serving = [t for t in catalog.tiers if any(e.model == model_id for e in t.models)]
    tiers = serving or [t for t in catalog.tiers if not t.gpu]
    best = max(tiers, key=tier_bandwidth_gbs, default=None)
    if best is None:
        return
    ceiling = roofline_tokens_per_s(model, tier_bandwidth_gbs(best))
    if claimed > ceiling:
        where = (
            f"on every tier serving it (best: tier {best.id}"
            if serving
            else f"on every CPU tier (no tier serves it; best: tier {best.id}"
        )
        findings.warning(
            ("models", model_id, "claims", index, "tokens_per_s"),
            f"claimed {claimed:g} tok/s exceeds the roofline {where}, "
            f"{tier_bandwidth_gbs(best):g} GB/s / {model.file_size_mb / 1000:.2f} GB per token "
            f"= {ceiling:.1f} tok/s); recorded as a claim, not a promise",
        )


# A Hugging Face download by branch: the bytes behind it can change without the URI changing.
_HF_BRANCH = re.compile(r"^https://huggingface\.co/[^/]+/[^/]+/resolve/(?![0-9a-f]{40}/)([^/]+)/")


def unpinned_branch(uri: str) -> str | None:
    """The branch a Hugging Face URI downloads from (None when pinned to a commit or not HF)."""
    match = _HF_BRANCH.match(uri)
    return match.group(1) if match else None


def unverified_models(catalog: Catalog, tier: Tier) -> list[str]:
    """The tier's models that the catalog has no sha256 for (their download cannot be checked)."""
    return [
        entry.model
        for entry in tier.models
        if entry.model in catalog.models and not catalog.models[entry.model].sha256
    ]


def require_verified(catalog: Catalog, tier: Tier, *, allow_unverified: bool) -> list[str]:
    """Refuse a tier that would serve a model without a sha256, unless allowed; the warnings."""
    missing = unverified_models(catalog, tier)
    if missing and not allow_unverified:
        raise InputError(
            f"tier {tier.id} serves model(s) the catalog has no sha256 for: {', '.join(missing)}; "
            "their downloads cannot be verified, so they are not deployed",
            hint="Add each model's sha256 to the catalog (`sha256sum FILE` of the file its URI "
            "names), or pass --allow-unverified to serve them unchecked.",
        )
    return [
        f"--allow-unverified: {name} is served without a sha256 check of its download "
        f"({catalog.models[name].uri})"
        for name in missing
    ]


def _check_pinning(catalog: Catalog, findings: Findings) -> None:
    """A model without a sha256 is refused at render time; say so at validation too.

    A branch URI with a sha256 is safe (a changed file fails its check and is deleted), so only
    an unverified model's branch URI is called out: nothing then holds its bytes still.
    """
    for model_id, model in catalog.models.items():
        if model.sha256:
            continue
        branch = unpinned_branch(model.uri)
        moving = f"; it downloads from the branch {branch!r}, not a commit" if branch else ""
        findings.warning(
            ("models", model_id, "uri"),
            f"no sha256{moving}: render and deploy refuse it without --allow-unverified",
        )
