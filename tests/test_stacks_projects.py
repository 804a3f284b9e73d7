"""The top-level Pulumi projects (stacks/<cloud>) under Pulumi's mocks: stack config in, the
same components and policy out, clean errors for bad config."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from hybridctl.catalog import load_catalog
from hybridctl.providers.mock_run import mock_call, mock_outputs
from tests.stacks_fixtures import ADMIN_CIDR, deployable_offers, stack_keys

PROJECTS = Path(__file__).resolve().parent.parent / "stacks"
SERVER_TYPES = {
    "hetzner": "hcloud:index/server:Server",
    "aws": "aws:ec2/instance:Instance",
    "gcp": "gcp:compute/instance:Instance",
}


class Recorder(pulumi.runtime.Mocks):
    """Mocks that keep every resource the program registers."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(args)
        ordinal = 1000 + len(self.resources)
        return str(ordinal), mock_outputs(args.typ, ordinal, args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        return mock_call(args.token, args.args), []

    def of_type(self, token: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == token]


def _config(tmp_path: Path, tier: str, **extra: str) -> dict[str, str]:
    host, admin = stack_keys()
    key = tmp_path / "host_key"
    key.write_text(host.private_openssh)
    key.with_name("host_key.pub").write_text(host.public_openssh + "\n")
    return {
        "tier": tier,
        "adminCidr": ADMIN_CIDR,
        "sshPublicKey": admin.public_openssh,
        "hostKeyFile": str(key),
        **extra,
    }


def _run(
    provider: str, config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Recorder, dict[str, Any]]:
    """Run stacks/<provider>/__main__.py as `pulumi up` would, under mocks; its exports too."""
    project = yaml.safe_load((PROJECTS / provider / "Pulumi.yaml").read_text())["name"]
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project=project, stack="dev", preview=False)
    pulumi.runtime.set_all_config({f"{project}:{k}": v for k, v in config.items()})
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", exported.__setitem__)
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output:
        runpy.run_path(str(PROJECTS / provider / "__main__.py"), run_name="__main__")
        names = sorted(exported)
        return pulumi.Output.all(*(exported[n] for n in names)).apply(
            lambda resolved: values.update(zip(names, resolved, strict=True))
        )

    program()
    return recorder, values


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_each_project_builds_the_tier_from_its_config(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tier, offer = deployable_offers(provider)[0]
    host, admin = stack_keys()
    recorder, outputs = _run(provider, _config(tmp_path, tier.id, nodes="2"), monkeypatch)

    servers = recorder.of_type(SERVER_TYPES[provider])
    assert len(servers) == 2
    rendered = str(servers[0].inputs)
    assert offer.instance_type in rendered  # the catalog's offer, as `hybridctl deploy` picks
    assert host.public_openssh.split()[1] in rendered  # the pinned host key is in the user data
    assert "LITELLM_MASTER_KEY=" not in rendered  # no .env secret in the instance metadata
    assert outputs["host_key_fingerprint"] == host.fingerprint
    assert outputs["gateway_url"].startswith("https://")
    assert len(outputs["ips"]) == 2 and "load_balancer_ip" in outputs
    # SSH is open to the admin network only, never to the internet.
    everything = str([r.inputs for r in recorder.resources])
    assert ADMIN_CIDR in everything
    assert admin.public_openssh in everything


def test_config_overrides_the_offer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tier, _ = deployable_offers("hetzner")[0]
    config = _config(tmp_path, tier.id, region="hel1", instanceType="cx52", name="llm-lab")
    recorder, outputs = _run("hetzner", config, monkeypatch)
    (server,) = recorder.of_type(SERVER_TYPES["hetzner"])
    assert server.inputs["location"] == "hel1" and server.inputs["serverType"] == "cx52"
    assert server.inputs["name"].startswith("llm-lab")
    assert "load_balancer_ip" not in outputs


@pytest.mark.parametrize(
    ("provider", "change", "message"),
    [
        ("hetzner", {"tier": "4"}, "tier 4 has no hetzner offer"),
        ("aws", {"tier": "9"}, "unknown tier '9'"),
        ("gcp", {"adminCidr": ""}, "stack config 'adminCidr' is not set"),
        ("hetzner", {"nodes": "many"}, "stack config 'nodes' must be 1-100"),
        ("aws", {"hostKeyFile": "/nonexistent/key"}, "cannot read the host key"),
        ("hetzner", {"adminCidr": "0.0.0.0/0"}, "0.0.0.0/0"),
    ],
)
def test_bad_config_stops_with_a_clear_message(
    provider: str,
    change: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = {**_config(tmp_path, "1"), **change}
    with pytest.raises(pulumi.RunError, match=message):
        _run(provider, config, monkeypatch)


def test_every_project_declares_its_required_config() -> None:
    for provider in SERVER_TYPES:
        project = yaml.safe_load((PROJECTS / provider / "Pulumi.yaml").read_text())
        assert project["name"] == f"hybridctl-{provider}"
        assert project["runtime"]["name"] == "python"
        assert set(project["config"]) == {"tier", "adminCidr", "sshPublicKey", "hostKeyFile"}
        main = (PROJECTS / provider / "__main__.py").read_text()
        assert f'run("{provider}")' in main
    assert load_catalog()  # the projects read the same catalog as the CLI
