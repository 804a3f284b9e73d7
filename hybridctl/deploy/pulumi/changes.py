"""What a deploy's preview means for a running server: resizes, replacements, deletions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.pulumi.spec import Resolved
from hybridctl.providers.registry import get_cloud

REPLACING = ("replace", "create-replacement", "delete-replaced")
SERVER_TYPES = ("Server", "Instance")  # hcloud Server, aws ec2 Instance, gcp compute Instance


class Step(Protocol):
    op: str
    name: str


def server_replaced(steps: Iterable[Any]) -> bool:
    """True when the update replaces a server, which then boots with the user data's host key."""
    return any(
        s.op in REPLACING and str(getattr(s, "type", "")).endswith(SERVER_TYPES) for s in steps
    )


def change_warnings(
    existing: DeploymentRecord | None, resolved: Resolved, steps: Iterable[Step]
) -> list[str]:
    """The warnings to show before the user confirms an update."""
    steps = list(steps)
    warnings = []
    if existing is not None and existing.instance_type != resolved.offer.instance_type:
        warnings.append(
            f"tier change {existing.tier} -> {resolved.tier.id} resizes "
            f"{existing.instance_type} -> {resolved.offer.instance_type} in place: "
            f"{get_cloud(resolved.provider).support.resize_downtime}. "
            f"The server keeps its first-boot stack; render the new tier's bundle "
            f"(`hybridctl render --tier {resolved.tier.id}`) and copy it over after the resize."
        )
    replaced = {s.name for s in steps if s.op in REPLACING}
    if replaced:
        names = ", ".join(sorted(replaced))
        warnings.append(f"these resources will be REPLACED (deleted and created again): {names}")
    deleted = {s.name for s in steps if s.op == "delete"}
    if deleted and existing is not None:
        warnings.append(f"these resources will be DELETED: {', '.join(sorted(deleted))}")
    return warnings
