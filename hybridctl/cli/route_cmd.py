"""The route group: how well the router picks the requests that need the cloud; its re-fit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.cli.command import Command, SubGroup
from hybridctl.cli.options import JsonOption, bounded

group = typer.Typer(name="route", cls=SubGroup, no_args_is_help=True, rich_markup_mode=None)

TierOption = Annotated[
    str, typer.Option("--tier", "-t", help="Tier whose rendered policy is measured.")
]


@group.callback()
def route() -> None:
    """Measure the router on per-prompt results, or re-fit its threshold from what the box saw.

    Example: hybridctl route eval results.csv --tier 2
    Example: hybridctl route refit metrics.txt --max-escalation 0.5
    """


@group.command("eval", cls=Command)
def route_eval(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV with the columns prompt,weak,strong (each 0-1).", show_default=False
        ),
    ],
    tier: TierOption = "2",
    share: Annotated[
        float,
        bounded(
            "--share",
            low=0,
            above=True,
            high=1,
            metavar="FRACTION",
            help="Target strong-call share to suggest a threshold for.",
        ),
    ] = 0.3,
    as_json: JsonOption = False,
) -> None:
    """Score per-prompt results: APGR and the cost-quality curve.

    Each row of FILE holds a prompt and how well a weak (local) and a strong (cloud) model
    answered it; prints APGR (0.5 is a random router), the cost-quality curve and the policy's
    operating point. RouteLLM publishes such files for MMLU and GSM8K.

    Example: hybridctl route eval results.csv --tier 2
    Example: hybridctl route eval results.csv --share 0.2 --json
    """
    from hybridctl.gateway.hook.need import NeedModel
    from hybridctl.gateway.route_eval import evaluate, read_prompts

    policy = _policy(tier)
    result = evaluate(read_prompts(file), NeedModel.load(), policy, share)
    if as_json:
        _print_json(result)
        return
    from hybridctl.cli.views import route as view

    view.print_route_eval(file, tier, result)


@group.command("refit", cls=Command)
def route_refit(
    file: Annotated[
        Path, typer.Argument(help="The gateway's saved /metrics/ page.", show_default=False)
    ],
    tier: TierOption = "2",
    max_escalation: Annotated[
        float,
        bounded(
            "--max-escalation",
            low=0,
            above=True,
            high=1,
            metavar="FRACTION",
            help="A need band whose local answers are escalated at least this often goes to "
            "the cloud at once.",
        ),
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Re-fit the need threshold from the requests the gateway counted.

    FILE is the gateway's /metrics/ page, where the hook counts (never content) requests per
    need band and route, and local answers escalated for low confidence.

    Example: hybridctl route refit metrics.txt --max-escalation 0.5
    """
    from hybridctl.gateway.route_eval import policy_threshold
    from hybridctl.gateway.route_record import read_record, refit

    strategy, current = policy_threshold(_policy(tier))
    result = {"strategy": strategy, **refit(read_record(file), max_escalation, current)}
    if as_json:
        _print_json(result)
        return
    from hybridctl.cli.views import route as view

    view.print_route_refit(file, tier, result)


def _policy(tier: str) -> dict[str, Any]:
    from hybridctl.catalog import load_catalog
    from hybridctl.providers.registry import DEFAULT_CLOUD
    from hybridctl.render.router import build_router_context

    return build_router_context(load_catalog(), tier, DEFAULT_CLOUD).policy


def _print_json(result: Any) -> None:
    from hybridctl.cli.output import print_json

    print_json(result)
