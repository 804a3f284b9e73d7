"""`hybridctl render`: write a tier's bundle (compose, router, cloud-init, .env) or check one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.cli.options import (
    CatalogOption,
    ImagesOption,
    JsonOption,
    RouteUrlOption,
    complete_provider,
    complete_tier,
    parse_route_urls,
)
from hybridctl.errors import CheckFailed, UsageError


def _check(bundle: Path, catalog_path: Path | None, json_output: bool) -> None:
    from hybridctl.cli.output import console, print_json
    from hybridctl.render.request import check_bundle_dir

    report = check_bundle_dir(bundle, catalog_path)
    if json_output:
        print_json(
            {
                "bundle": str(bundle),
                "tier": report.tier_id,
                "ok": report.ok,
                "problems": report.problems,
                "memory_mib": report.memory_mib,
                "memory_budget_mib": report.memory_budget_mib,
            }
        )
    elif report.ok:
        total = sum(report.memory_mib.values())
        console.print(
            f"{bundle}: ok (tier {report.tier_id}; memory limits {total:.0f} of "
            f"{report.memory_budget_mib or 0:.0f} MiB)"
        )
    if not report.ok:
        listing = "\n".join(f"  - {problem}" for problem in report.problems)
        raise CheckFailed(
            f"{bundle} has {len(report.problems)} problem(s):\n{listing}",
            hint="Re-render it with `hybridctl render --tier T --out DIR --force`.",
        )


def _summary(result: Any) -> dict[str, Any]:
    ctx = result.rendered.context
    return {
        "out": str(result.out),
        "tier": ctx.tier_id,
        "provider": ctx.provider,
        "server": ctx.server,
        "written": result.report.written,
        "unchanged": result.report.unchanged,
        "removed": result.report.removed,
        "memory_mib": ctx.memory_mib,
        "memory_total_mib": ctx.memory_total_mib,
        "memory_budget_mib": ctx.ram_mib - ctx.os_reserved_mib,
        "env": {
            "file": str(result.out / ".env"),
            "generated": result.env.generated,
            "from_environment": result.env.from_environment,
        },
        "notes": result.rendered.notes,
        "problems": result.problems,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from hybridctl.cli.output import console

    console.print(
        f"Rendered tier {summary['tier']} ({summary['server']}, {summary['provider']}) "
        f"into {summary['out']}: {len(summary['written'])} written, "
        f"{len(summary['unchanged'])} unchanged"
        + (f", {len(summary['removed'])} removed" if summary["removed"] else "")
    )
    table = Table("service", "memory limit (MiB)", title="Memory limits")
    for name, mib in summary["memory_mib"].items():
        table.add_row(name, str(mib))
    table.add_row(
        "total", f"{summary['memory_total_mib']} of {summary['memory_budget_mib']} after the OS"
    )
    console.print(table)
    env = summary["env"]
    if env["generated"]:
        console.print(f"Generated in {env['file']} (0600): {', '.join(env['generated'])}")
    if env["from_environment"]:
        console.print(f"Taken from your environment: {', '.join(env['from_environment'])}")
    for note in summary["notes"]:
        console.print(f"note: {note}")
    if not summary["problems"]:
        console.print("Check: ok (YAML, Compose Specification, memory, ports, secrets)")


def render(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            "-t",
            help="Tier to render (see `hybridctl tiers`).",
            autocompletion=complete_tier,
        ),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider",
            "-p",
            help="Where the box runs: hetzner, aws, gcp, or local (this machine).",
            autocompletion=complete_provider,
        ),
    ] = "hetzner",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Bundle folder (default: ./hybridctl-bundle-tier-T)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that differ from this render.")
    ] = False,
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            metavar="DIR",
            help="Validate an existing bundle folder instead of rendering.",
        ),
    ] = None,
    ollama: Annotated[
        bool, typer.Option("--ollama", help="Serve the models with Ollama, not llama.cpp.")
    ] = False,
    admin_cidr: Annotated[
        str | None,
        typer.Option("--admin-cidr", help="Network SSH is allowed from (for cloud-init.yaml)."),
    ] = None,
    ssh_public_key: Annotated[
        Path | None,
        typer.Option("--ssh-public-key", help="Admin's SSH public key file (for cloud-init)."),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="DNS name for a public TLS certificate (else self-signed)."),
    ] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Render a tier whose models have no sha256 in the catalog (named in a warning).",
        ),
    ] = False,
    images: ImagesOption = None,
    route_url: RouteUrlOption = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Render the stack a tier runs (docker-compose, router config, cloud-init, .env), or check one.

    Secrets go only into the bundle's .env (mode 0600): API keys from your environment
    (OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY, OPENROUTER_API_KEY, GEMINI_API_KEY) and
    generated passwords, kept across re-renders. Exits 1 when the bundle fails its checks.

    Example: hybridctl render --tier 2 --out ./bundle

    Example: hybridctl render --check ./bundle
    """
    if check is not None:
        _check(check, catalog, json_output)
        return
    if tier is None:
        raise UsageError(
            "--tier is required to render",
            hint="Example: hybridctl render --tier 2 --out ./bundle (or --check DIR to validate).",
        )
    from hybridctl.cli.output import print_json
    from hybridctl.render.request import RenderRequest, render_request

    request = RenderRequest(
        tier=tier,
        provider=provider,
        out=out,
        force=force,
        ollama=ollama,
        domain=domain,
        admin_cidr=admin_cidr,
        ssh_public_key_file=ssh_public_key,
        images_file=images,
        route_urls=parse_route_urls(route_url),
        allow_unverified=allow_unverified,
        catalog_path=catalog,
    )
    result = render_request(request)
    summary = _summary(result)
    if json_output:
        print_json(summary)
    else:
        _print_summary(summary)
    if result.problems:
        listing = "\n".join(f"  - {problem}" for problem in result.problems)
        raise CheckFailed(
            f"the rendered bundle fails its checks:\n{listing}",
            hint="This is a bug in the templates or the catalog; please report it.",
        )
