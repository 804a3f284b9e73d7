"""The route command: how well the router picks the requests that need the cloud; its re-fit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.options import JsonOption, bounded

ACTIONS = ("eval", "refit")


def route(
    action: Annotated[
        str,
        typer.Argument(
            help="eval: score a file of per-prompt results; refit: re-fit the need threshold "
            "from the gateway's recorded counts."
        ),
    ],
    file: Annotated[
        Path,
        typer.Argument(
            help="eval: CSV with the columns prompt,weak,strong (each 0-1); refit: the "
            "gateway's saved /metrics/ page."
        ),
    ],
    tier: Annotated[
        str, typer.Option("--tier", "-t", help="Tier whose rendered policy is measured.")
    ] = "2",
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
    max_escalation: Annotated[
        float,
        bounded(
            "--max-escalation",
            low=0,
            above=True,
            high=1,
            metavar="FRACTION",
            help="refit: a need band whose local answers are escalated at least this often "
            "goes to the cloud at once.",
        ),
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Measure the router on per-prompt results, or re-fit its threshold from what the box saw.

    eval: each row of FILE holds a prompt and how well a weak (local) and a strong (cloud) model
    answered it; prints APGR (0.5 is a random router), the cost-quality curve and the policy's
    operating point. RouteLLM publishes such files for MMLU and GSM8K.

    refit: FILE is the gateway's /metrics/ page, where the hook counts (never content) requests
    per need band and route, and local answers escalated for low confidence.

    Example: hybridctl route eval results.csv --tier 2
    Example: hybridctl route eval results.csv --share 0.2 --json
    Example: hybridctl route refit metrics.txt --max-escalation 0.5
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.cli.output import print_json
    from hybridctl.errors import UsageError
    from hybridctl.gateway.need import NeedModel
    from hybridctl.gateway.route_eval import evaluate, policy_threshold, read_prompts
    from hybridctl.gateway.route_record import read_record, refit
    from hybridctl.providers.registry import DEFAULT_CLOUD
    from hybridctl.render.router import build_router_context

    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}", hint=f"Use one of: {', '.join(ACTIONS)}.")
    policy = build_router_context(load_catalog(), tier, DEFAULT_CLOUD).policy
    if action == "refit":
        strategy, current = policy_threshold(policy)
        result = {"strategy": strategy, **refit(read_record(file), max_escalation, current)}
    else:
        result = evaluate(read_prompts(file), NeedModel.load(), policy, share)
    if as_json:
        print_json(result)
        return
    from hybridctl.cli.views import route as view

    if action == "refit":
        view.print_route_refit(file, tier, result)
    else:
        view.print_route_eval(file, tier, result)
