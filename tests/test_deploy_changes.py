"""The warnings a deploy shows before it changes a running server."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog import load_catalog
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.pulumi.changes import change_warnings
from hybridctl.deploy.pulumi.spec import DeployRequest, resolve


@dataclass
class Step:
    op: str
    name: str


def _resolved(tier: str):
    request = DeployRequest(tier_id=tier, provider="hetzner", admin_cidr="203.0.113.7/32")
    return resolve(
        load_catalog(),
        request,
        existing=None,
        offline_plan=True,
        placeholder_ssh_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForThePlanOnly plan",
    )


def test_a_tier_change_warns_of_the_resize_downtime() -> None:
    existing = DeploymentRecord.model_construct(tier="2", instance_type="cx22")
    (warning,) = change_warnings(existing, _resolved("2.5"), [Step("update", "hybridctl-hetzner")])
    assert "tier change 2 -> 2.5 resizes cx22 -> cx33 in place" in warning
    assert "powers the server off" in warning
    assert "hybridctl render --tier 2.5" in warning


def test_replacements_and_deletions_are_named() -> None:
    existing = DeploymentRecord.model_construct(tier="2.5", instance_type="cx33")
    steps = [Step("replace", "fw"), Step("delete", "old-volume"), Step("same", "server")]
    warnings = change_warnings(existing, _resolved("2.5"), steps)
    assert warnings == [
        "these resources will be REPLACED (deleted and created again): fw",
        "these resources will be DELETED: old-volume",
    ]


def test_a_first_deploy_has_nothing_to_warn_about() -> None:
    assert change_warnings(None, _resolved("1"), [Step("create", "server")]) == []


def test_a_deployment_keeps_its_domain_when_the_request_names_none() -> None:
    existing = DeploymentRecord.model_construct(
        provider="hetzner",
        nodes=1,
        region="fsn1",
        admin_cidr="203.0.113.7/32",
        ssh_public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForThePlanOnly plan",
        backend_url=None,
        outputs={"domain": "llm.example.com"},
    )
    request = DeployRequest(tier_id="2", provider="hetzner", name="d2")  # a resume's request
    resolved = resolve(load_catalog(), request, existing=existing, offline_plan=True)
    assert resolved.domain == "llm.example.com"
    moved = DeployRequest(tier_id="2", provider="hetzner", name="d2", domain="ai.example.com")
    assert resolve(load_catalog(), moved, existing=existing, offline_plan=True).domain == (
        "ai.example.com"
    )
