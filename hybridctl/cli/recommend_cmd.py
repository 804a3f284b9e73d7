"""`hybridctl recommend`: box or cloud, and the cheapest tier x provider that carries it."""

# No `from __future__ import annotations`: Typer would evaluate every option's annotation string
# again (each bounded(...) call a second time) when it builds the command.
from enum import StrEnum
from typing import Annotated, Any

import typer

from hybridctl.cli.options import CatalogOption, JsonOption, bounded
from hybridctl.cli.output import print_json
from hybridctl.planning import limits as w

_PER_MINUTE_MAX = w.MAX_REQUESTS_PER_DAY // 1440  # 69,444
_SHAPE = "Traffic shape"


class CloudBaseline(StrEnum):
    routed = "routed"
    large = "large"


_ASK = "The tier guide's questions"


def _share(flag: str, help: str) -> Any:
    return bounded(flag, low=0, high=1, metavar="SHARE", help=help, panel=_SHAPE)


def _tokens(flag: str, high: int, help: str) -> Any:
    return bounded(flag, low=1, high=high, metavar="N", help=help, panel=_SHAPE)


def _seconds(flag: str, help: str) -> Any:
    return bounded(flag, low=0, high=w.MAX_LATENCY_S, above=True, metavar="SECONDS", help=help)


def recommend_cmd(
    requests_per_day: Annotated[
        float | None,
        bounded(
            "--requests-per-day",
            "-r",
            low=0,
            above=True,
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
            above=True,
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
        _share("--complex-share", "Share of complex requests (0-1): multi-turn, analytical."),
    ] = 0.3,
    large_share: Annotated[
        float | None,
        _share(
            "--large-share",
            "Share of all requests that need the large cloud route (default: a third of "
            "--complex-share, the Hybrid routing strategy's 10% of 30%).",
        ),
    ] = None,
    prompt_tokens: Annotated[
        int,
        _tokens("--prompt-tokens", w.MAX_PROMPT_TOKENS, "Prompt tokens per request."),
    ] = 300,
    response_tokens: Annotated[
        int,
        _tokens("--response-tokens", w.MAX_RESPONSE_TOKENS, "Response tokens per request."),
    ] = 150,
    p95_latency: Annotated[
        float,
        _seconds("--p95-latency", "p95 latency target for whole local answers, seconds."),
    ] = 20.0,
    first_token_p95: Annotated[
        float | None,
        _seconds("--first-token-p95", "p95 target for the first token of local answers, seconds."),
    ] = None,
    budget: Annotated[
        float | None,
        bounded(
            "--budget",
            low=0,
            above=True,
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
    traffic: Annotated[
        str | None,
        typer.Option(
            "--traffic",
            metavar="KIND",
            help="The kind of requests, for how many the router sends to the cloud and what "
            "those calls recover of the quality gap: a kind the catalog measured "
            "(routing.need_curves; default: its routing.traffic).",
            show_default=False,
        ),
    ] = None,
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
    as_json: JsonOption = False,
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
    flags = dict(locals())  # every option by parameter name: taken before any other local exists
    from hybridctl.catalog import load_catalog
    from hybridctl.planning.recommend import recommend
    from hybridctl.planning.recommend_input import check_providers, refusal, workload_from_flags
    from hybridctl.planning.results import NoFeasiblePlan

    workload = workload_from_flags(flags)
    cat = load_catalog(catalog)
    check_providers(workload.providers, cat)
    try:
        result = recommend(cat, workload)
    except NoFeasiblePlan as exc:
        _show(exc.recommendation, as_json, refused=True)
        raise refusal(exc, local_only) from None
    _show(result, as_json, refused=False)


def _show(recommendation: Any, as_json: bool, *, refused: bool) -> None:
    if as_json:
        print_json(recommendation.model_dump(mode="json"))
        return
    from hybridctl.cli.views import recommend as recommend_view  # Rich tables: not for --json

    show = recommend_view.print_refusal if refused else recommend_view.print_recommendation
    show(recommendation)
