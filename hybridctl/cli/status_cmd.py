"""The status command: a deployment's saved record, or a live check of the box (--check)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hybridctl.cli.options import CatalogOption, JsonOption


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
    from hybridctl.catalog.deployments import load_record
    from hybridctl.cli.output import err_console, print_json
    from hybridctl.deploy.deployers import deployer_for

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
    provider = load_record(name).provider
    deployer = deployer_for(provider, err_console, lambda q: False)
    result = deployer.live_status(name)
    if as_json:
        print_json(result)
        return
    from hybridctl.cli.views.deploy import print_status

    print_status(result)


def _check(name: str, catalog: Any, as_json: bool) -> None:
    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.deployments import load_record
    from hybridctl.cli.output import print_json
    from hybridctl.ops.check import check_deployment

    report = check_deployment(load_record(name), load_catalog(catalog))
    if as_json:
        print_json(report.to_json())
    else:
        from hybridctl.cli.views.ops import print_check

        print_check(report)
    if not report.healthy:
        raise typer.Exit(1)
