"""What an upgrade is asked and answers, and what a local and a cloud upgrade share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.catalog.schema import Catalog
from hybridctl.errors import CheckFailed

BACKUPS_DIR = "backups"
PREVIOUS_BUNDLE = "bundle.prev"
FAILED_BUNDLE = "bundle.failed"


@dataclass(frozen=True)
class UpgradeRequest:
    """What `hybridctl upgrade` was asked for."""

    name: str
    tier_id: str | None = None  # None: re-render the deployment's own tier
    model_files: dict[str, Path] = field(default_factory=dict)  # local only
    allow_unverified: bool = False
    images: dict[str, str | None] | None = None  # None: the ones the box was deployed with
    timeout_s: float = 900
    yes: bool = False


@dataclass(frozen=True)
class UpgradeResult:
    """How the upgrade ended (a failed one raises after rolling back)."""

    record: DeploymentRecord
    previous_tier: str
    backup: Path


def backup_path(name: str) -> Path:
    """Where an upgrade keeps its backup: the deployment's folder, one archive per upgrade."""
    stamp = deployments.now().replace(":", "").replace("+0000", "Z")
    return deployments.deployment_dir(name) / BACKUPS_DIR / f"{stamp}.tar"


def tier_models(catalog: Catalog, tier_id: str) -> list[str]:
    from hybridctl.catalog import find_tier

    return [entry.model for entry in find_tier(catalog, tier_id).models]


def rollback_message(
    record: DeploymentRecord,
    target: str,
    problem: str,
    again: str | None,
    kept: Path | None = None,
    advice: str = "",
) -> CheckFailed:
    """The error an upgrade ends with after rolling back (exit 1); `kept` is the file that
    holds the failed services' logs from before the rollback, `advice` what fixes the cause."""
    state = "serving again" if again is None else f"NOT serving: {again}"
    logs = f"The services' logs from before the rollback are kept in {kept}. " if kept else ""
    return CheckFailed(
        f"upgrade of {record.name} to tier {target} failed verification: {problem}\n"
        f"Rolled back to the previous bundle (tier {record.tier}): {state}.",
        hint=f"{advice + ' ' if advice else ''}{logs}`hybridctl status {record.name}` shows "
        "each service; fix the cause (a model file, an image) and run the upgrade again.",
    )
