"""The keys command: add, list and revoke a deployment's client keys (each with a user tier)."""

from __future__ import annotations

from typing import Annotated

import typer

from hybridctl.cli.options import JsonOption, bounded


def keys(
    action: Annotated[str, typer.Argument(help="add, list or revoke.")],
    name: Annotated[str | None, typer.Argument(help="The key's name (add, revoke).")] = None,
    tier: Annotated[
        str | None,
        typer.Option("--tier", help="User tier of a new key: free, paid or own_key."),
    ] = None,
    daily_budget: Annotated[
        float | None,
        bounded(
            "--daily-budget",
            low=0,
            above=True,
            high=1_000_000,
            metavar="USD",
            help="USD of cloud spend a day for this key (add).",
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", "-d", help="Deployment name (default: the only one)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Manage client keys: the key decides a client's user tier; only its hash is stored.

    Example: hybridctl keys add alice --tier paid --daily-budget 5 -d hybridctl-local
    Example: hybridctl keys list -d hybridctl-local
    Example: hybridctl keys revoke alice -d hybridctl-local
    """
    from hybridctl.cli.output import print_json
    from hybridctl.ops.keys import check_request, pick_deployment, run_keys

    args = check_request(action, name, tier, daily_budget)
    target = pick_deployment(deployment)
    answer = run_keys(target, args)
    if as_json:
        print_json(answer)
        return
    from hybridctl.cli.views.keys import print_keys

    print_keys(action, target, answer)
