"""`upgrade`: back up, move a deployment to a tier (or re-render it), verify, roll back on failure.

The tier guide's migration, done for real: back up the state (`hybridctl backup`'s archive),
keep the running bundle, apply the new one (a cloud box is resized through Pulumi first when
the offer changes), let it fetch or seed its models, restart, and verify that the gateway
answers through the proxy, every model of the tier is loaded and `status --check` is healthy.
When verification fails, the previous bundle goes back and the box is verified again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.adapter import LocalBox
from hybridctl.deploy.box.failure import (
    failed_services,
    keep_failure_log,
    model_file_hint,
)
from hybridctl.deploy.box.verify import verify_box
from hybridctl.deploy.compose.compose import tail
from hybridctl.deploy.compose.pull import ImagesUnavailable
from hybridctl.errors import CheckFailed, OperationFailed, UsageError
from hybridctl.ops.check import check_problems
from hybridctl.ops.upgrade_request import (
    FAILED_BUNDLE,
    PREVIOUS_BUNDLE,
    UpgradeRequest,
    UpgradeResult,
    backup_path,
    rollback_message,
    tier_models,
)
from hybridctl.providers.registry import is_local
from hybridctl.stackfacts import CA_FILE, MODEL_DOWNLOADER


class LocalUpgrader:
    """Upgrade a box that runs under Docker Compose on this machine."""

    def __init__(self, console: Console, *, confirm: Callable[[str], bool]) -> None:
        self.console = console
        self.confirm = confirm

    def _say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def upgrade(self, catalog: Catalog, request: UpgradeRequest) -> UpgradeResult:
        from hybridctl.catalog import find_tier
        from hybridctl.deploy.compose.compose import check_engine, project_for
        from hybridctl.deploy.compose.local import LocalDeployer, endpoint
        from hybridctl.deploy.compose.localopts import LocalOptions, load_local_options

        record = deployments.load_record(request.name)
        tier = find_tier(catalog, request.tier_id or record.tier)
        saved = load_local_options(record.name) or LocalOptions(
            https_port=_port_of(record.outputs.get("endpoint"))
        )
        check_engine()
        project = project_for(record.name)
        if not project.bundle.is_dir():
            raise UsageError(
                f"{record.name} has no bundle in {project.bundle}",
                hint=f"Deploy it again: hybridctl deploy --provider local --name {record.name}",
            )
        box = LocalBox(record.name, project.bundle, timeout_exit=True)
        folder = deployments.deployment_dir(record.name)
        self.console.print(
            f"[bold]Upgrading[/] {record.name}: tier {record.tier} -> {tier.id} (local)"
        )
        from hybridctl.deploy.box.adapter import box_for
        from hybridctl.ops.backup import create_backup

        backup = backup_path(record.name)
        create_backup(record, box_for(record), backup, say=self._say)
        self._say(f"backup written to {backup} (0600; `hybridctl restore` reads it)")
        previous = folder / PREVIOUS_BUNDLE
        shutil.rmtree(previous, ignore_errors=True)
        shutil.copytree(project.bundle, previous, symlinks=True)
        self._say(f"previous bundle kept in {previous}")

        from hybridctl.deploy.compose.local import LocalRequest

        local_request = LocalRequest(
            tier_id=tier.id,
            name=record.name,
            images=saved.images if request.images is None else request.images,
            route_urls=saved.route_urls,
            model_files=request.model_files,
            allow_unverified=request.allow_unverified,
            https_port=saved.https_port,
            http_port=saved.http_port,
            timeout_s=request.timeout_s,
        )
        base_url, ca_file = endpoint(saved.https_port), folder / CA_FILE
        problem: str | None
        try:
            done = LocalDeployer(self.console, confirm=self.confirm).deploy(catalog, local_request)
            problem = restart(box, self.console)
            self.console.print("Verifying: the gateway through the proxy, every model loaded ...")
            problem = problem or verify_box(
                box,
                base_url,
                ca_file,
                tier_models(catalog, tier.id),
                timeout_s=request.timeout_s,
                say=self._say,
            )
            if problem is None:
                problem = check_problems(done, catalog)
                self._say(problem or "status --check: healthy")
        except ImagesUnavailable as exc:  # found before anything changed: nothing to undo
            raise ImagesUnavailable(
                f"{exc.message}\nThe box still runs tier {record.tier}, untouched.", hint=exc.hint
            ) from None
        except (CheckFailed, OperationFailed) as exc:  # the box was touched: roll back
            problem = exc.message
        if problem is None:
            return UpgradeResult(done, record.tier, backup)
        # The rollback replaces the containers, and their logs with them: keep them first.
        services = failed_services(box)
        kept, shown = keep_failure_log(box, record.name, f"upgrade to tier {tier.id}", services)
        if shown and shown not in problem:
            problem += "\n" + shown
        self._say(f"the services' last lines before the rollback are kept in {kept}")
        unseeded = [m for m in tier_models(catalog, tier.id) if m not in request.model_files]
        download_failed = any(s.service == MODEL_DOWNLOADER for s in services)
        advice = model_file_hint(unseeded) if download_failed and unseeded else ""
        self.console.print(f"[red]Verification failed[/]; rolling back to tier {record.tier} ...")
        again = self._rollback(catalog, record, box, previous, base_url, ca_file, request)
        raise rollback_message(record, tier.id, problem, again, kept, advice) from None

    def _rollback(
        self,
        catalog: Catalog,
        record: DeploymentRecord,
        box: LocalBox,
        previous: Path,
        base_url: str,
        ca_file: Path,
        request: UpgradeRequest,
    ) -> str | None:
        bundle = box.bundle
        failed = bundle.parent / FAILED_BUNDLE
        shutil.rmtree(failed, ignore_errors=True)
        shutil.move(str(bundle), str(failed))
        shutil.copytree(previous, bundle, symlinks=True)
        self._say(f"the failed bundle is kept in {failed} for a look")
        # A recreate that failed half-way leaves renamed containers behind; start clean.
        box.compose("down", "--remove-orphans", "--timeout", "20", timeout=600)
        again = restart(box, self.console, "the previous bundle")
        if again is None:
            again = verify_box(
                box,
                base_url,
                ca_file,
                tier_models(catalog, record.tier),
                timeout_s=request.timeout_s,
                say=self._say,
            )
        first_line = (again or "").splitlines()[0] if again else None
        deployments.save_record(
            record.model_copy(
                update={
                    "status": "deployed" if again is None else "failed",
                    "updated": deployments.now(),
                    "last_error": "an upgrade failed verification and was rolled back"
                    + (f"; the rollback is not serving: {first_line}" if first_line else ""),
                }
            )
        )
        return first_line


def restart(box: LocalBox, console: Console, what: str = "the new bundle") -> str | None:
    """Recreate every container on the bundle now in place: compose does not notice a changed
    file that a service mounts (models.ini, the router), so a plain `up` would keep the old
    configuration running. Volumes (models, Redis, the proxy's CA) stay."""
    console.print(f"Restarting the stack on {what} (containers recreated, volumes kept)")
    up = box.compose("up", "--detach", "--force-recreate", "--remove-orphans", timeout=1800)
    if up.returncode != 0:
        return "docker compose up failed: " + tail(up.stderr.decode(errors="replace"), 6)
    return None


def _port_of(url: Any) -> int:
    text = str(url or "")
    tail = text.rsplit(":", 1)[-1]
    return int(tail) if text.count(":") >= 2 and tail.isdigit() else 443


def upgrade(
    console: Console, confirm: Callable[[str], bool], catalog: Catalog, request: UpgradeRequest
) -> UpgradeResult:
    """Upgrade a deployment wherever it runs: this machine, or a cloud through Pulumi."""
    record = deployments.load_record(request.name)
    if record.status in ("deploying", "destroying"):
        raise UsageError(
            f"{record.name} is {record.status}; finish or resume that first",
            hint=f"hybridctl deploy --resume {record.name}",
        )
    if is_local(record.provider):
        return LocalUpgrader(console, confirm=confirm).upgrade(catalog, request)
    if request.model_files:
        raise UsageError(
            "--model-file is for local deployments",
            hint="A cloud box downloads the catalog's models itself.",
        )
    from hybridctl.ops.upgrade_cloud import CloudUpgrader

    return CloudUpgrader(console, confirm=confirm).upgrade(catalog, request, record)
