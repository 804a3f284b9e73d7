"""The route command: how well the gateway's router picks the requests that need the cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.options import JsonOption, bounded

ACTIONS = ("eval",)


def route(
    action: Annotated[str, typer.Argument(help="eval: score a file of per-prompt results.")],
    file: Annotated[
        Path, typer.Argument(help="CSV with the columns prompt,weak,strong (each 0-1).")
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
    as_json: JsonOption = False,
) -> None:
    """Measure the router on per-prompt results: APGR, cost-quality curve, operating point.

    Each row of FILE holds a prompt and how well a weak (local) and a strong (cloud) model
    answered it; APGR 0.5 is a random router. RouteLLM publishes such files for MMLU and GSM8K.

    Example: hybridctl route eval results.csv --tier 2
    Example: hybridctl route eval results.csv --share 0.2 --json
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.cli.output import print_json
    from hybridctl.errors import UsageError
    from hybridctl.gateway.need import NeedModel
    from hybridctl.gateway.route_eval import evaluate, read_prompts
    from hybridctl.providers.registry import DEFAULT_CLOUD
    from hybridctl.render.router import build_router_context

    if action not in ACTIONS:
        raise UsageError(f"unknown action {action!r}", hint=f"Use one of: {', '.join(ACTIONS)}.")
    prompts = read_prompts(file)
    policy = build_router_context(load_catalog(), tier, DEFAULT_CLOUD).policy
    result = evaluate(prompts, NeedModel.load(), policy, share)
    if as_json:
        print_json(result)
        return
    from hybridctl.cli.views.route import print_route_eval

    print_route_eval(file, tier, result)
