"""The status command: a deployment's saved record, or a live check of the box (--check)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hybridctl.cli.options import CatalogOption, JsonOption

_MARK = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def _console() -> Any:
    from hybridctl.cli.output import console

    return console


def status(
    name: Annotated[str | None, typer.Argument(help="Deployment name (default: all).")] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Check the box live (SSH and HTTPS, or Docker for a local box): services, "
            "models, memory, disk, spend, certificates. Exit 1 when something is unhealthy.",
        ),
    ] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a deployment's state (saved record, plus the stack's last update when Pulumi is here).

    Example: hybridctl status hybridctl-hetzner
    Example: hybridctl status hybridctl-local --check --json
    """
    from hybridctl.cli.deploy_views import print_status
    from hybridctl.cli.output import err_console, print_json
    from hybridctl.deploy import records
    from hybridctl.providers import get_provider

    if check:
        if name is None:
            from hybridctl.errors import UsageError

            raise UsageError(
                "--check needs a deployment name", hint="hybridctl status NAME --check"
            )
        _check(name, catalog, as_json)
        return
    if name is None:
        from hybridctl.cli.deploy_cmd import deployments

        deployments(as_json=as_json)
        return
    provider = records.load_record(name).provider
    deployer = get_provider(provider).deployer(err_console, lambda q: False)
    result = deployer.live_status(name)
    if as_json:
        print_json(result)
        return
    print_status(result)


def _check(name: str, catalog: Any, as_json: bool) -> None:
    from rich.markup import escape

    from hybridctl.catalog import load_catalog
    from hybridctl.cli.output import print_json
    from hybridctl.deploy.records import load_record
    from hybridctl.ops.check import check_deployment

    report = check_deployment(load_record(name), load_catalog(catalog))
    if as_json:
        print_json(report.to_json())
    else:
        console = _console()
        console.print(
            f"[bold]{report.name}[/]: tier {report.tier} on {report.provider}, checked on "
            f"{escape(report.where)} at {report.checked}"
        )
        for item in report.items:
            console.print(
                f"  {_MARK[item.level]}  {item.what:<34} {escape(item.detail)}", soft_wrap=True
            )
        problems = len(report.problems)
        console.print(
            "[bold green]healthy[/]"
            if report.healthy
            else f"[bold red]unhealthy[/]: {problems} problem{'s' if problems != 1 else ''}"
        )
    if not report.healthy:
        raise typer.Exit(1)
