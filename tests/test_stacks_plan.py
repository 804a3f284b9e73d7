"""Tests of the offline plan: every resource listed, secrets redacted, runs isolated, no CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridctl.errors import InputError
from hybridctl.providers.mock_run import REDACTED, plan_resources, run_program
from tests.stacks_fixtures import KeyPair, deployable_offers, make_ed25519, spec_for

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pulumi_")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyPair, KeyPair]:
    directory: Path = tmp_path_factory.mktemp("keys")
    return make_ed25519(directory, "host"), make_ed25519(directory, "admin")


def first_spec(provider: str, keys, nodes: int = 1):
    tier, offer = deployable_offers(provider)[0]
    return spec_for(tier, offer, *keys, nodes=nodes)


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_plan_lists_every_resource_with_secrets_redacted(provider: str, keys) -> None:
    spec = first_spec(provider, keys, nodes=2)
    planned = plan_resources(spec)
    recorded = run_program(spec).resources
    assert sorted((p.type, p.name) for p in planned) == sorted((r.type, r.name) for r in recorded)
    assert planned[0].is_component  # the component comes first

    text = json.dumps([p.properties for p in planned])
    assert "PRIVATE KEY" not in text
    assert spec.user_data not in text
    assert REDACTED in text
    assert any(p.secret_properties for p in planned)
    assert spec.instance_type in text
    assert spec.admin_cidr in text


def test_plan_is_deterministic_and_runs_are_isolated(keys) -> None:
    hetzner = first_spec("hetzner", keys)
    first = plan_resources(hetzner)
    plan_resources(first_spec("gcp", keys, nodes=3))
    again = plan_resources(hetzner)
    assert again == first
    assert all(p.type.startswith(("hcloud:", "hybridctl:")) for p in again)


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_a_multi_node_plan_is_the_same_every_run(keys, provider: str) -> None:
    """Resources arrive in a different order each run; their mock ids and addresses do not."""
    spec = first_spec(provider, keys, nodes=3)
    first = plan_resources(spec)
    assert all(plan_resources(spec) == first for _ in range(3))


def test_plan_shows_the_gcp_ssh_keys_but_not_the_user_data(keys) -> None:
    spec = first_spec("gcp", keys)
    (instance,) = [p for p in plan_resources(spec) if p.type == "gcp:compute/instance:Instance"]
    metadata = instance.properties["metadata"]
    assert metadata["user-data"] == REDACTED
    assert metadata["ssh-keys"].endswith(spec.ssh_public_key)


def test_plan_refuses_an_impossible_spec(keys) -> None:
    import dataclasses

    spec = dataclasses.replace(first_spec("hetzner", keys), gpu=True)
    with pytest.raises(InputError, match="GPU"):
        plan_resources(spec)


def test_plan_needs_no_pulumi_cli_and_no_credentials(keys, tmp_path: Path) -> None:
    """Run a plan in a child with an empty PATH (no `pulumi` binary) and no cloud variables."""
    spec = first_spec("aws", keys, nodes=2)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.__dict__))
    code = (
        "import json, sys; from hybridctl.providers.spec import DeploySpec; "
        "from hybridctl.providers.mock_run import plan_resources; "
        "spec = DeploySpec(**json.load(open(sys.argv[1]))); "
        "print(len(plan_resources(spec)))"
    )
    env = {"PATH": str(tmp_path / "empty"), "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(spec_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    expected = len(run_program(spec).resources)
    assert int(result.stdout.strip()) == expected
    assert "AWS_ACCESS_KEY_ID" not in os.environ
