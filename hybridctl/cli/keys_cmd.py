"""The keys group: add, list and revoke a deployment's client keys (each with a user tier)."""

from __future__ import annotations

from typing import Annotated

import typer

from hybridctl.cli.command import Command, SubGroup
from hybridctl.cli.options import JsonOption, bounded

group = typer.Typer(name="keys", cls=SubGroup, no_args_is_help=True, rich_markup_mode=None)

DeploymentOption = Annotated[
    str | None,
    typer.Option("--deployment", "-d", help="Deployment name (default: the only one)."),
]
NameArgument = Annotated[str, typer.Argument(help="The key's name.", show_default=False)]


@group.callback()
def keys() -> None:
    """Manage client keys: the key decides a client's user tier; only its hash is stored.

    Example: hybridctl keys add alice --tier paid --daily-budget 5 -d hybridctl-local
    Example: hybridctl keys list -d hybridctl-local
    Example: hybridctl keys revoke alice -d hybridctl-local
    """


@group.command("add", cls=Command)
def add(
    name: NameArgument,
    tier: Annotated[
        str | None,
        typer.Option("--tier", help="User tier of the new key: free, paid or own_key."),
    ] = None,
    daily_budget: Annotated[
        float | None,
        bounded(
            "--daily-budget",
            low=0,
            above=True,
            high=1_000_000,
            metavar="USD",
            help="USD of cloud spend a day for this key.",
        ),
    ] = None,
    deployment: DeploymentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a client key with a user tier; the key is printed once.

    Example: hybridctl keys add alice --tier paid --daily-budget 5 -d hybridctl-local
    """
    from hybridctl.ops.keys import add_args

    _run("add", add_args(name, tier, daily_budget), deployment, as_json)


@group.command("list", cls=Command)
def list_keys(deployment: DeploymentOption = None, as_json: JsonOption = False) -> None:
    """List the client keys: name, user tier, daily budget, spent today.

    Example: hybridctl keys list -d hybridctl-local
    """
    _run("list", ["list"], deployment, as_json)


@group.command("revoke", cls=Command)
def revoke(
    name: NameArgument, deployment: DeploymentOption = None, as_json: JsonOption = False
) -> None:
    """Revoke a client key: the gateway refuses it from then on.

    Example: hybridctl keys revoke alice -d hybridctl-local
    """
    from hybridctl.ops.keys import revoke_args

    _run("revoke", revoke_args(name), deployment, as_json)


def _run(action: str, args: list[str], deployment: str | None, as_json: bool) -> None:
    from hybridctl.cli.output import print_json
    from hybridctl.ops.keys import pick_deployment, run_keys

    target = pick_deployment(deployment)
    answer = run_keys(target, args)
    if as_json:
        print_json(answer)
        return
    from hybridctl.cli.views.keys import print_keys

    print_keys(action, target, answer)
