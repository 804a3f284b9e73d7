"""`upgrade` on a cloud: back up over SSH, resize through Pulumi, push, verify, roll back.

The sequence: every node's state is backed up here and its running bundle kept on the box; the
deploy driver previews and applies the stack with the new tier (a resize in place when the
tier's offer changes, nothing when it does not), pushes the newly rendered bundle and .env
(the bundle's host script installs or removes what a GPU needs, then compose pulls the new
images and fetches the new models), and waits until each node serves through the proxy with
TLS verified; `status --check` gives the final verdict. When the box does not serve, the kept
bundle goes back on every node and the box is verified again. A resize is not undone by the
rollback (it costs another stop and start): the record says so, and an upgrade back to the
previous tier sizes the server down again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from hybridctl.catalog.schema import Catalog
from hybridctl.deploy import records
from hybridctl.deploy.records import DeploymentRecord
from hybridctl.deploy.upgrade_request import (
    UpgradeRequest,
    UpgradeResult,
    backup_path,
    rollback_message,
    tier_models,
)
from hybridctl.errors import CheckFailed, OperationFailed


class CloudUpgrader:
    """Upgrade a deployment on Hetzner, AWS or GCP (the driver and the SSH box are swappable)."""

    def __init__(
        self,
        console: Console,
        *,
        confirm: Callable[[str], bool],
        deployer: Any = None,
        box: Any = None,
    ) -> None:
        from hybridctl.deploy.driver import Deployer
        from hybridctl.deploy.sshbox import SshBox

        self.console = console
        self.box = box or SshBox()
        self.deployer = deployer or Deployer(console, confirm=confirm, box=self.box)

    def _say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def upgrade(
        self, catalog: Catalog, request: UpgradeRequest, record: DeploymentRecord
    ) -> UpgradeResult:
        from hybridctl.catalog import find_tier
        from hybridctl.deploy.spec import DeployRequest
        from hybridctl.render.images_file import load_images_file

        tier = find_tier(catalog, request.tier_id or record.tier)
        self.console.print(
            f"[bold]Upgrading[/] {record.name}: tier {record.tier} -> {tier.id} on "
            f"{record.provider}"
        )
        backup = backup_path(record.name)
        self.box.backup(record, backup, say=self._say)
        deploy_request = DeployRequest(
            tier_id=tier.id,
            provider=record.provider,
            region=record.region,
            name=record.name,
            nodes=record.nodes,
            admin_cidr=record.admin_cidr,
            backend=record.backend_url,
            images=load_images_file(None) if request.images is None else request.images,
            wait_s=request.timeout_s,
            allow_unverified=request.allow_unverified,
            domain=record.outputs.get("domain"),
        )
        problem: str | None
        try:
            done = self.deployer.deploy(catalog, deploy_request, yes=request.yes)
            self.console.print("Verifying with status --check ...")
            problem = self.box.check(done, catalog)
            self._say(problem or "status --check: healthy")
        except (CheckFailed, OperationFailed) as exc:  # resized or pushed, then failed
            problem = exc.message
        if problem is None:
            return UpgradeResult(done, record.tier, backup)
        self.console.print(f"[red]Verification failed[/]; rolling back to tier {record.tier} ...")
        current = records.load_record(record.name)
        again = self.box.rollback(
            current, tier_models(catalog, record.tier), timeout_s=request.timeout_s, say=self._say
        )
        resized = current.instance_type != record.instance_type
        note = (
            f"; the server stays resized to {current.instance_type} (upgrade to tier "
            f"{record.tier} to size it back)"
            if resized
            else ""
        )
        records.save_record(
            current.model_copy(
                update={
                    "tier": record.tier,
                    "status": "deployed" if again is None else "failed",
                    "updated": records.now(),
                    "last_error": f"an upgrade to tier {tier.id} failed verification and was "
                    f"rolled back{note}"
                    + (f"; the rollback is not serving: {again}" if again else ""),
                }
            )
        )
        raise rollback_message(record, tier.id, problem, again) from None
