"""Deploy commands: deploy (--plan, --resume, --cancel), outputs, destroy, deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.cli.options import (
    AllowUnverifiedOption,
    CatalogOption,
    ImagesOption,
    JsonOption,
    ModelFileOption,
    RouteUrlOption,
    bounded,
)
from hybridctl.cli.views.deploy import (
    print_cancelled,
    print_deployed,
    print_deployments,
    print_destroyed,
    print_plan,
    print_record_outputs,
)

ProviderOption = Annotated[
    str | None,
    typer.Option(
        "--provider",
        "-p",
        help="Where the box runs: hetzner, aws or gcp (Pulumi), or local (Docker Compose here).",
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Pulumi backend URL (default: a local file backend under hybridctl's state dir; "
        "e.g. s3://bucket, https://api.pulumi.com).",
        show_default=False,
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _confirm(question: str) -> bool:
    return typer.confirm(question, default=False)


def _deployer(provider: str | None = None) -> Any:
    """The driver for a provider: Pulumi for the clouds, Docker Compose for local."""
    from hybridctl.cli.output import err_console
    from hybridctl.deploy.deployers import cloud_deployer, deployer_for
    from hybridctl.providers.registry import DEFAULT_CLOUD, require_extra_for

    require_extra_for(provider or DEFAULT_CLOUD)  # a cloud's Pulumi packages, before any work
    if provider is None:
        return cloud_deployer(err_console, _confirm)
    return deployer_for(provider, err_console, _confirm)


def _record_deployer(name: str) -> Any:
    from hybridctl.catalog.deployments import load_record

    return _deployer(load_record(name).provider)


def deploy(
    tier: Annotated[str | None, typer.Option("--tier", "-t", help="Tier id, e.g. 2.5.")] = None,
    provider: ProviderOption = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region/location (default: the offer's).")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Deployment (stack) name (default: hybridctl-<provider>; deploying another "
            "tier under the same name updates it in place).",
        ),
    ] = None,
    nodes: Annotated[
        int | None,
        bounded(
            "--nodes",
            low=1,
            high=100,  # each provider's own limit (25 or 50) is checked with its reason
            metavar="N",
            help="Servers; more than 1 adds a load balancer (default: 1, or the deployment's).",
            show_default=False,
        ),
    ] = None,
    admin_cidr: Annotated[
        str | None,
        typer.Option(
            "--admin-cidr", help="The only network allowed to SSH in, e.g. 203.0.113.7/32."
        ),
    ] = None,
    ssh_public_key: Annotated[
        Path | None,
        typer.Option(
            "--ssh-public-key", help="Admin SSH public key (default ~/.ssh/id_ed25519.pub)."
        ),
    ] = None,
    yes: YesOption = False,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="Offline: show what would be created and its cost (no CLI, no credentials).",
        ),
    ] = False,
    backend: BackendOption = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", metavar="NAME", help="Resume an interrupted deploy: refresh, then update."
        ),
    ] = None,
    cancel: Annotated[
        str | None,
        typer.Option(
            "--cancel", metavar="NAME", help="Release a stale lock on a deployment's stack."
        ),
    ] = None,
    images: ImagesOption = None,
    route_url: RouteUrlOption = None,
    model_file: ModelFileOption = None,
    allow_unverified: AllowUnverifiedOption = False,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="A DNS name that resolves to the box (or its balancer): a public certificate "
            "via ACME. Without it clients verify with `hybridctl outputs NAME --ca`.",
        ),
    ] = None,
    https_port: Annotated[
        int,
        bounded(
            "--https-port", low=1, high=65535, metavar="N", help="local: HTTPS port on 127.0.0.1."
        ),
    ] = 443,
    http_port: Annotated[
        int,
        bounded(
            "--http-port", low=1, high=65535, metavar="N", help="local: HTTP port on 127.0.0.1."
        ),
    ] = 80,
    wait: Annotated[
        float | None,
        bounded(
            "--wait",
            low=10,
            high=86400,
            metavar="SECONDS",
            help="How long to wait for the box to serve (default: 900 local, 1800 cloud).",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy a tier: to a cloud with Pulumi (preview, confirm, update; or --plan it offline),
    or to this machine with Docker Compose (--provider local), waiting until it serves.

    Example: hybridctl deploy --tier 2.5 --provider hetzner --admin-cidr 203.0.113.7/32
    Example: hybridctl deploy --tier 2.5 --provider hetzner --plan
    Example: hybridctl deploy --tier 1 --provider local --model-file MODEL_ID=./model.gguf
    """
    given = dict(locals())  # every parameter above, by name (before any import adds names)
    from hybridctl.catalog import load_catalog
    from hybridctl.deploy.request_build import DeployOptions, build_request, check_modes
    from hybridctl.providers.registry import require_extra_for

    opts = DeployOptions(**given)
    check_modes(opts)
    if cancel:
        _deployer().cancel(cancel, backend=backend)
        print_cancelled(cancel)
        return
    loaded = load_catalog(catalog)
    if resume:
        record = _deployer().resume(loaded, resume, yes=yes, backend=backend)
        print_deployed(record, as_json)
        return
    provider_name, request = build_request(opts)
    require_extra_for(provider_name)  # --plan too: it runs the cloud's Pulumi program offline
    if plan:
        _print_plan(loaded, request, as_json)
        return
    record = _deployer(provider_name).deploy(loaded, request, yes=yes)
    print_deployed(record, as_json)


def _print_plan(catalog: Any, request: Any, as_json: bool) -> None:
    from hybridctl.deploy.pulumi.offline_plan import plan_deployment

    report = plan_deployment(catalog, request)
    if as_json:
        from hybridctl.cli.output import print_json

        print_json(report.to_json())
    else:
        print_plan(report)


def outputs(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    as_json: JsonOption = False,
    ca: Annotated[
        bool,
        typer.Option(
            "--ca",
            help="Print the proxy's CA certificate (PEM) that clients verify TLS with; "
            "fetched over SSH (pinned host key) when not saved yet.",
        ),
    ] = False,
) -> None:
    """Print a deployment's outputs (IP, SSH user, host key fingerprint, gateway URL).

    Example: hybridctl outputs hybridctl-hetzner --json

    Example: hybridctl outputs hybridctl-hetzner --ca > hybridctl-ca.pem
    """
    from hybridctl.catalog.deployments import load_record
    from hybridctl.cli.output import print_json

    if ca:
        from hybridctl.deploy.box.edge import ca_certificate

        typer.echo(ca_certificate(name).read_text(), nl=False)
        return
    record = load_record(name)
    data = {**record.outputs, "known_hosts": record.known_hosts}
    if as_json:
        print_json(data)
        return
    print_record_outputs(name, record, data)


def destroy(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    yes: YesOption = False,
    backend: BackendOption = None,
) -> None:
    """Delete every cloud resource of a deployment, then its stack and record.

    Example: hybridctl destroy hybridctl-hetzner --yes
    """
    deployer = _record_deployer(name)
    if backend is not None:
        record = deployer.destroy(name, yes=yes, backend=backend)
    else:
        record = deployer.destroy(name, yes=yes)
    print_destroyed(record)


def deployments(as_json: JsonOption = False) -> None:
    """List the deployments hybridctl knows about (from its state directory).

    Example: hybridctl deployments --json
    """
    from hybridctl.catalog.deployments import list_records
    from hybridctl.cli.output import print_json
    from hybridctl.deploy.request_build import deployment_rows

    found = list_records()
    if as_json:
        print_json(deployment_rows(found))
        return
    print_deployments(found)
