"""The offline plan: the deploy program run under Pulumi's mocks, with no cloud and no CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hybridctl.catalog.deployments import find_record
from hybridctl.deploy.box import hostkeys
from hybridctl.deploy.pulumi.spec import DeployRequest, build_spec, deployment_name, resolve
from hybridctl.providers.registry import check_spec, get_cloud


@dataclass(frozen=True)
class PlanReport:
    """What `deploy --plan` found: the resources the program would create and what it costs."""

    name: str
    provider: str
    tier: str
    region: str
    instance_type: str
    nodes: int
    volume_gb: int
    admin_cidr: str
    offer_monthly_usd: float
    monthly_usd: float
    price_source: str
    load_balancer: str | None
    resources: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    update_of: str | None = None

    @property
    def not_included(self) -> str:
        """What the monthly figure leaves out (the catalog prices servers only)."""
        parts = ["volumes", "static IPs", "traffic over the offer's allowance"]
        return ", ".join((["the load balancer"] if self.load_balancer else []) + parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "tier": self.tier,
            "region": self.region,
            "instance_type": self.instance_type,
            "nodes": self.nodes,
            "volume_gb": self.volume_gb,
            "admin_cidr": self.admin_cidr,
            "cost": {
                "offer_monthly_usd": self.offer_monthly_usd,
                "nodes": self.nodes,
                "monthly_usd": self.monthly_usd,
                "price_source": self.price_source,
                "not_included": self.not_included,
            },
            "load_balancer": self.load_balancer,
            "resources": self.resources,
            "notes": self.notes,
            "update_of": self.update_of,
        }


def _resource_rows(planned: Any) -> list[dict[str, Any]]:
    """PlannedResource objects as JSON-able rows."""
    return [
        {
            "type": item.type,
            "name": item.name,
            "component": item.type.startswith("hybridctl:"),
            "properties": dict(item.properties),
            "secret_properties": list(item.secret_properties),
        }
        for item in planned
    ]


def plan_deployment(catalog: Any, request: DeployRequest) -> PlanReport:
    """Resolve the request, render the user data with a fresh host key, and run the program
    under mocks; nothing leaves this machine and no credential is read."""
    from hybridctl.providers.mock_run import plan_resources

    existing = find_record(deployment_name(request))
    _, throwaway_admin_key = hostkeys.generate_host_key("hybridctl-plan-placeholder")
    resolved = resolve(
        catalog,
        request,
        existing=existing,
        offline_plan=True,
        placeholder_ssh_key=throwaway_admin_key,
    )
    host_private, host_public = hostkeys.generate_host_key(hostkeys.host_alias(resolved.name))
    spec = build_spec(resolved, host_private, host_public)
    if existing is not None:
        # The real host key stays in the stack's encrypted config; the plan renders a stand-in.
        resolved.notes.append(
            f"{resolved.name} exists (tier {existing.tier}): a deploy updates it in place and "
            "keeps its pinned host key."
        )
    check_spec(spec)
    resources = _resource_rows(plan_resources(spec))
    support = get_cloud(resolved.provider).support
    return PlanReport(
        name=resolved.name,
        provider=resolved.provider,
        tier=resolved.tier.id,
        region=resolved.region,
        instance_type=resolved.offer.instance_type,
        nodes=resolved.nodes,
        volume_gb=resolved.volume_gb,
        admin_cidr=resolved.admin_cidr,
        offer_monthly_usd=resolved.offer.monthly_usd,
        monthly_usd=resolved.monthly_usd,
        price_source=f"{resolved.offer.price_source.ref} ({resolved.offer.price_source.as_of})",
        load_balancer=support.load_balancer if resolved.nodes > 1 else None,
        resources=resources,
        notes=resolved.notes,
        update_of=existing.tier if existing is not None else None,
    )
