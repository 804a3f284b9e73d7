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

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.catalog.schema import Catalog
from hybridctl.deploy.box.sshbox import PREVIOUS_SUFFIX, Say, SshBox
from hybridctl.deploy.box.topology import node_ips
from hybridctl.errors import CheckFailed, OperationFailed
from hybridctl.ops.backup import create_backup
from hybridctl.ops.check import check_problems
from hybridctl.ops.upgrade_request import (
    UpgradeRequest,
    UpgradeResult,
    backup_path,
    rollback_message,
    tier_models,
)
from hybridctl.remote.ssh import as_root


class UpgradeBox(SshBox):
    """The SSH box an upgrade drives: also backs each node up and runs `status --check` on it."""

    def backup(self, record: DeploymentRecord, dest: Path, *, say: Say) -> None:
        """Back up each node's state (one archive per node, `hybridctl restore` reads it) here,
        and keep its running bundle beside it on the box (for a rollback)."""
        folder = shlex.quote(self.bundle_dir)
        for ip in node_ips(record.outputs):
            client = self.connect(record, ip)
            out = dest if len(node_ips(record.outputs)) == 1 else dest.with_suffix(f".{ip}.tar")
            create_backup(record, self.runner(record, ip), out, say=say)
            say(f"backup written to {out}")
            keep = f"rm -rf {folder}{PREVIOUS_SUFFIX} && cp -a {folder} {folder}{PREVIOUS_SUFFIX}"
            client.check(as_root(keep), what="keeping the running bundle")
            say(f"previous bundle kept in {self.bundle_dir}{PREVIOUS_SUFFIX} on {client.target}")

    def check(self, record: DeploymentRecord, catalog: Any) -> str | None:
        """`status --check` on every node; the first node's problems, or None."""
        for ip in node_ips(record.outputs):
            problem = check_problems(record, catalog, runner=self.runner(record, ip))
            if problem is not None:
                return f"{ip}: {problem}"
        return None


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
        from hybridctl.deploy.pulumi.driver import Deployer

        self.console = console
        self.box = box or UpgradeBox()
        self.deployer = deployer or Deployer(console, confirm=confirm, box=self.box)

    def _say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def upgrade(
        self, catalog: Catalog, request: UpgradeRequest, record: DeploymentRecord
    ) -> UpgradeResult:
        from hybridctl.catalog import find_tier
        from hybridctl.deploy.pulumi.spec import DeployRequest
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
        current = deployments.load_record(record.name)
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
        deployments.save_record(
            current.model_copy(
                update={
                    "tier": record.tier,
                    "status": "deployed" if again is None else "failed",
                    "updated": deployments.now(),
                    "last_error": f"an upgrade to tier {tier.id} failed verification and was "
                    f"rolled back{note}"
                    + (f"; the rollback is not serving: {again}" if again else ""),
                }
            )
        )
        raise rollback_message(record, tier.id, problem, again) from None
