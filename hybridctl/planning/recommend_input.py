"""Turns `recommend`'s flags into a checked Workload, and its refusal into the error it raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import ValidationError

from hybridctl.errors import CheckFailed, UsageError
from hybridctl.planning.workload import Workload
from hybridctl.providers.names import CLOUDS

if TYPE_CHECKING:
    from hybridctl.catalog.schema import Catalog
    from hybridctl.planning.results import NoFeasiblePlan

# The flag each Workload field comes from, so that an error names what the user typed.
_FLAGS = {
    "requests_per_day": "--requests-per-day",
    "peak_factor": "--peak-factor",
    "complex_share": "--complex-share",
    "large_share": "--large-share",
    "prompt_tokens": "--prompt-tokens",
    "response_tokens": "--response-tokens",
    "p95_latency_s": "--p95-latency",
    "first_token_p95_s": "--first-token-p95",
    "monthly_budget_usd": "--budget",
    "providers": "--provider",
    "max_nodes": "--max-nodes",
    "traffic": "--traffic",
}
# recommend's parameter names that differ from the Workload field they fill.
_FIELDS = {
    "p95_latency": "p95_latency_s",
    "first_token_p95": "first_token_p95_s",
    "budget": "monthly_budget_usd",
}
_NOT_WORKLOAD = ("provider", "catalog", "as_json")


def workload_from_flags(flags: Mapping[str, object]) -> Workload:
    """The Workload `recommend`'s options describe (keyed by parameter name); exit 2 if invalid."""
    fields = {_FIELDS.get(k, k): v for k, v in flags.items() if k not in _NOT_WORKLOAD}
    provider = flags.get("provider")
    fields["providers"] = (
        tuple(str(p).lower() for p in provider)  # type: ignore[attr-defined]
        if provider
        else CLOUDS
    )
    baseline = fields["cloud_baseline"]
    fields["cloud_baseline"] = getattr(baseline, "value", baseline)
    return _workload(fields)


def check_providers(providers: tuple[str, ...], catalog: Catalog) -> None:
    """Every --provider names one the catalog prices; a near miss gets a 'did you mean'."""
    known = sorted({offer.provider for tier in catalog.tiers for offer in tier.offers})
    unknown = sorted(set(providers) - set(known))
    if not unknown:
        return
    import difflib

    named = []
    for name in unknown:
        # difflib's own cutoff: suggest.close_matches' 0.5 offers 'runpod' for 'linode'.
        close = ", ".join(repr(c) for c in difflib.get_close_matches(name, known, n=2))
        named.append(f"{name} (did you mean {close}?)" if close else name)
    raise UsageError(
        f"--provider: unknown provider {', '.join(named)}",
        hint=f"Providers in the catalog: {', '.join(known)}.",
    )


def refusal(exc: NoFeasiblePlan, local_only: bool) -> CheckFailed:
    """The exit-1 error when nothing answers, with the flags that could change that."""
    return CheckFailed(
        f"{exc.why} (see the reasons above)",
        hint=(
            "Allow more boxes with --max-nodes, or relax --p95-latency or --budget"
            + (", or let requests reach the cloud (drop --local-only)." if local_only else ".")
        ),
    )


def _workload(fields: dict[str, object]) -> Workload:
    per_day, per_minute = fields.pop("requests_per_day"), fields.pop("requests_per_minute")
    if (per_day is None) == (per_minute is None):
        raise UsageError(
            "give the expected traffic with exactly one of --requests-per-day or "
            "--requests-per-minute",
            hint="Example: hybridctl recommend --requests-per-day 5000",
        )
    flags = dict(_FLAGS)
    if per_minute is not None:
        fields["requests_per_day"] = float(per_minute) * 1440  # type: ignore[arg-type]
        flags["requests_per_day"] = "--requests-per-minute"
    else:
        fields["requests_per_day"] = per_day
    try:
        return Workload.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{flags.get(str(e['loc'][0]) if e['loc'] else '', '--large-share')}: {e['msg']}"
            for e in exc.errors()
        )
        raise UsageError(f"invalid workload: {problems}") from None
