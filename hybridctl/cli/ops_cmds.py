"""Day-two commands: logs, backup and restore of a deployed box."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hybridctl.cli.options import CatalogOption, JsonOption, bounded

NameArgument = Annotated[str, typer.Argument(help="Deployment name.")]


def _say(line: str) -> None:
    from hybridctl.cli.output import err_console

    err_console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def _write(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def logs(
    name: NameArgument,
    service: Annotated[
        str | None, typer.Argument(help="One service (gateway, llm, proxy, ...; default: all).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only lines since: a duration (10m, 2h) or a time (RFC 3339)."
        ),
    ] = None,
    tail: Annotated[
        int | None,
        bounded(
            "--tail",
            "-n",
            low=1,
            high=100_000,
            metavar="N",
            help="Last N lines per service (default 200 without --since).",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", help="Prefix each line's time.")
    ] = False,
) -> None:
    """Print a deployment's service logs: through Docker here, or over SSH (pinned host key).

    Example: hybridctl logs hybridctl-local gateway --since 10m
    Example: hybridctl logs hybridctl-hetzner --follow
    """
    from hybridctl.catalog.deployments import load_record
    from hybridctl.deploy.box.adapter import box_for
    from hybridctl.ops.logs import show_logs

    record = load_record(name)
    show_logs(
        box_for(record),
        name,
        service,
        write=_write,
        since=since,
        tail=tail,
        follow=follow,
        timestamps=timestamps,
        note=_say,
    )


def backup(
    name: NameArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="The archive to write (.tar.gz).")],
    with_prometheus: Annotated[
        bool, typer.Option("--with-prometheus", help="Also keep Prometheus' metrics.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up a box's state: spend and cache (Redis), Grafana, the proxy's CA and certificates,
    and the keys (.env); not the models. The archive is written 0600: it holds the keys.

    Example: hybridctl backup hybridctl-local --out box.tar.gz
    """
    from hybridctl.catalog.deployments import load_record
    from hybridctl.cli.output import print_json
    from hybridctl.deploy.box.adapter import box_for
    from hybridctl.ops.backup import create_backup

    record = load_record(name)
    manifest = create_backup(
        record, box_for(record), out, with_prometheus=with_prometheus, say=_say
    )
    if as_json:
        print_json(manifest)
        return
    from hybridctl.cli.views.ops import print_backup

    print_backup(name, record.tier, out, manifest)


def restore(
    name: NameArgument,
    source: Annotated[Path, typer.Option("--from", help="A backup written by `hybridctl backup`.")],
    wait: Annotated[
        float,
        bounded("--wait", low=10, high=86400, metavar="SECONDS", help="How long to wait to serve."),
    ] = 600,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup onto a deployment of the same tier (checks the archive first), then
    check the box; exit 1 when it does not come back healthy.

    Example: hybridctl restore hybridctl-local --from box.tar.gz
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.deployments import load_record
    from hybridctl.cli.output import print_json
    from hybridctl.deploy.box.adapter import box_for
    from hybridctl.ops.restore import restore_backup

    record = load_record(name)
    loaded = load_catalog(catalog)
    result = restore_backup(record, loaded, box_for(record), source, wait_s=wait, say=_say)
    if as_json:
        print_json(
            {
                "restored": result.restored,
                "notes": result.notes,
                "backup": {k: result.manifest[k] for k in ("deployment", "tier", "created")},
                "check": result.report.to_json(),
            }
        )
    else:
        from hybridctl.cli.views.ops import print_restore

        print_restore(name, source, result)
    if not result.report.healthy:
        raise typer.Exit(1)
