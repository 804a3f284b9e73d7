"""`hybridctl recommend`: box or cloud, and the cheapest tier x provider that carries it."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from hybridctl.cli.options import CatalogOption, JsonOption, bounded
from hybridctl.cli.output import print_json
from hybridctl.errors import CheckFailed, UsageError
from hybridctl.planning import workload as w
from hybridctl.planning.workload import Workload

if TYPE_CHECKING:
    from hybridctl.catalog.schema import Catalog

_PER_MINUTE_MAX = w.MAX_REQUESTS_PER_DAY // 1440  # 69,444
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
}
_SHAPE = "Traffic shape"


class CloudBaseline(StrEnum):
    routed = "routed"
    large = "large"


_ASK = "The tier guide's questions"


def recommend_cmd(
    requests_per_day: Annotated[
        float | None,
        bounded(
            "--requests-per-day",
            "-r",
            low=0,
            high=w.MAX_REQUESTS_PER_DAY,
            metavar="N",
            help="Expected requests a day.",
        ),
    ] = None,
    requests_per_minute: Annotated[
        float | None,
        bounded(
            "--requests-per-minute",
            low=0,
            high=_PER_MINUTE_MAX,
            metavar="N",
            help="Or: average requests a minute.",
        ),
    ] = None,
    peak_factor: Annotated[
        float,
        bounded(
            "--peak-factor",
            low=1,
            high=w.MAX_PEAK_FACTOR,
            metavar="FACTOR",
            help="Peak-hour rate over the average.",
            panel=_SHAPE,
        ),
    ] = 3.0,
    complex_share: Annotated[
        float,
        bounded(
            "--complex-share",
            low=0,
            high=1,
            metavar="SHARE",
            help="Share of complex requests (0-1): multi-turn, analytical.",
            panel=_SHAPE,
        ),
    ] = 0.3,
    large_share: Annotated[
        float | None,
        bounded(
            "--large-share",
            low=0,
            high=1,
            metavar="SHARE",
            help="Share of all requests that need the large cloud route (default: a third of "
            "--complex-share, seed 002's 10% of 30%).",
            panel=_SHAPE,
        ),
    ] = None,
    prompt_tokens: Annotated[
        int,
        bounded(
            "--prompt-tokens",
            low=1,
            high=w.MAX_PROMPT_TOKENS,
            metavar="N",
            help="Prompt tokens per request.",
            panel=_SHAPE,
        ),
    ] = 300,
    response_tokens: Annotated[
        int,
        bounded(
            "--response-tokens",
            low=1,
            high=w.MAX_RESPONSE_TOKENS,
            metavar="N",
            help="Response tokens per request.",
            panel=_SHAPE,
        ),
    ] = 150,
    p95_latency: Annotated[
        float,
        bounded(
            "--p95-latency",
            low=0,
            high=w.MAX_LATENCY_S,
            metavar="SECONDS",
            help="p95 latency target for whole local answers, seconds.",
        ),
    ] = 20.0,
    first_token_p95: Annotated[
        float | None,
        bounded(
            "--first-token-p95",
            low=0,
            high=w.MAX_LATENCY_S,
            metavar="SECONDS",
            help="p95 target for the first token of local answers, seconds.",
        ),
    ] = None,
    budget: Annotated[
        float | None,
        bounded(
            "--budget",
            low=0,
            high=w.MAX_BUDGET_USD,
            metavar="USD",
            help="Monthly budget in USD (server + cloud spill).",
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", "-p", help="Allowed provider; repeat for several."),
    ] = None,
    local_only: Annotated[
        bool, typer.Option("--local-only", help="Privacy: no request may leave the box.")
    ] = False,
    max_nodes: Annotated[
        int,
        bounded(
            "--max-nodes",
            low=1,
            high=w.MAX_NODES,
            metavar="N",
            help="Ceiling on boxes behind a load balancer (the answer says when more would do).",
        ),
    ] = 1,
    cloud_baseline: Annotated[
        CloudBaseline,
        typer.Option(
            "--cloud-baseline",
            help="Cloud-only means: 'routed' (the gateway without a box: each request to the "
            "route its complexity needs) or 'large' (every request on the large route).",
        ),
    ] = CloudBaseline.routed,
    learning: Annotated[
        bool,
        typer.Option("--learning", help="Just learning the system?", rich_help_panel=_ASK),
    ] = False,
    quality: Annotated[
        bool,
        typer.Option(
            "--quality",
            help="Need better quality answers? Complex requests stay local only on 7B+ models.",
            rich_help_panel=_ASK,
        ),
    ] = False,
    sub_second: Annotated[
        bool,
        typer.Option(
            "--sub-second",
            help="Sub-second response needed? Local first tokens within 1 s at p95.",
            rich_help_panel=_ASK,
        ),
    ] = False,
    catalog: CatalogOption = None,
    json: JsonOption = False,
) -> None:
    """Say first whether a box beats the cloud at your traffic, then the cheapest tier x provider
    that carries it, with the reasoning.

    Prints the verdict (a box, or stay on the cloud and from which volume a box would pay); the
    cloud-only bill priced with the gateway's own route mix; the chosen tier, provider and
    offer with the models served locally, their predicted speeds and where those come from;
    local share and cloud spill; headroom and p95 latency at peak; the tier guide's decision
    tree beside it; and every tier x provider considered with the reason it lost. Exit 1 only
    when nothing answers (--local-only, or over --budget, and no box carries it).

    Example: hybridctl recommend --requests-per-day 5000 --complex-share 0.3
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.planning.recommend import recommend
    from hybridctl.planning.results import NoFeasiblePlan

    workload = _workload(
        requests_per_day=requests_per_day,
        requests_per_minute=requests_per_minute,
        peak_factor=peak_factor,
        complex_share=complex_share,
        large_share=large_share,
        prompt_tokens=prompt_tokens,
        response_tokens=response_tokens,
        p95_latency_s=p95_latency,
        first_token_p95_s=first_token_p95,
        monthly_budget_usd=budget,
        providers=tuple(p.lower() for p in provider) if provider else ("hetzner", "aws", "gcp"),
        local_only=local_only,
        max_nodes=max_nodes,
        cloud_baseline=cloud_baseline.value,
        learning=learning,
        quality=quality,
        sub_second=sub_second,
    )
    cat = load_catalog(catalog)
    _check_providers(workload.providers, cat)
    try:
        result = recommend(cat, workload)
    except NoFeasiblePlan as exc:
        if json:
            print_json(exc.recommendation.model_dump(mode="json"))
        else:
            from hybridctl.cli.recommend_view import print_refusal  # Rich tables: not for --json

            print_refusal(exc.recommendation)
        raise CheckFailed(
            f"{exc.why} (see the reasons above)",
            hint=(
                "Allow more boxes with --max-nodes, or relax --p95-latency or --budget"
                + (", or let requests reach the cloud (drop --local-only)." if local_only else ".")
            ),
        ) from None
    if json:
        print_json(result.model_dump(mode="json"))
        return
    from hybridctl.cli.recommend_view import print_recommendation

    print_recommendation(result)


def _check_providers(providers: tuple[str, ...], catalog: Catalog) -> None:
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


def _workload(**fields: object) -> Workload:
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
