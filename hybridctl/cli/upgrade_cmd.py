"""The upgrade command: move a deployment to another tier, or re-render it, with a rollback."""

from __future__ import annotations

from typing import Annotated

import typer

from hybridctl.cli.options import (
    AllowUnverifiedOption,
    CatalogOption,
    ImagesOption,
    JsonOption,
    ModelFileOption,
    bounded,
)


def _require_extra(name: str) -> None:
    """A cloud deployment's upgrade needs [deploy]: refuse before its backup, not after."""
    from hybridctl.catalog.deployments import load_record
    from hybridctl.providers.registry import require_extra_for

    require_extra_for(load_record(name).provider)


def upgrade(
    name: Annotated[str, typer.Argument(help="Deployment name.")],
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier", "-t", help="Tier to move to (default: the deployment's, re-rendered)."
        ),
    ] = None,
    model_file: ModelFileOption = None,
    allow_unverified: AllowUnverifiedOption = False,
    images: ImagesOption = None,
    wait: Annotated[
        float,
        bounded(
            "--wait",
            low=10,
            high=86400,
            metavar="SECONDS",
            help="How long to wait for the box to serve before rolling back.",
        ),
    ] = 900,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    catalog: CatalogOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upgrade a deployment: back up its state, resize it when the tier's offer changes, apply
    the newly rendered bundle and models, restart, verify, and roll back when it does not serve.

    Example: hybridctl upgrade hybridctl-local --tier 2 --model-file MODEL_ID=./model.gguf
    Example: hybridctl upgrade hybridctl-hetzner --tier 2 --yes
    """
    from hybridctl.catalog import load_catalog
    from hybridctl.cli.output import err_console, print_json
    from hybridctl.deploy.compose.seed import parse_model_files
    from hybridctl.ops.upgrade import UpgradeRequest
    from hybridctl.ops.upgrade import upgrade as run_upgrade
    from hybridctl.render.images_file import load_images_file

    _require_extra(name)
    request = UpgradeRequest(
        name=name,
        tier_id=tier,
        model_files=parse_model_files(model_file),
        allow_unverified=allow_unverified,
        images=load_images_file(images) if images is not None else None,
        timeout_s=wait,
        yes=yes,
    )
    result = run_upgrade(
        err_console, lambda q: typer.confirm(q, default=False), load_catalog(catalog), request
    )
    record = result.record
    if as_json:
        extra = {"previous_tier": result.previous_tier, "backup": str(result.backup)}
        print_json({**record.model_dump(), **extra})
        return
    from hybridctl.cli.views.deploy import print_upgraded

    print_upgraded(result)
