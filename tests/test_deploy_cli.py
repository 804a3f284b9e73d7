"""The deploy commands through the real CLI: --plan offline, error paths, and a faked deploy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.cli.app import app
from tests.deploy_fixtures import FakeBackend, FakeBox, write_ssh_key

TOKEN = "hcloud-token-value-that-must-never-be-printed-0123456789"
PASSPHRASE = "passphrase-that-must-never-be-printed-9876543210"
runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def no_pulumi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    for tool in ("ssh-keygen",):  # keep the tools the deploy itself needs
        (empty / tool).symlink_to(Path("/usr/bin") / tool)
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.parametrize(
    ("provider", "server", "firewall", "key", "volume", "address"),
    [
        (
            "hetzner",
            "hcloud:index/server:Server",
            "hcloud:index/firewall:Firewall",
            "hcloud:index/sshKey:SshKey",
            "hcloud:index/volume:Volume",
            "hcloud:index/primaryIp:PrimaryIp",
        ),
        (
            "aws",
            "aws:ec2/instance:Instance",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/keyPair:KeyPair",
            "aws:ebs/volume:Volume",
            "aws:ec2/eip:Eip",
        ),
        (
            "gcp",
            "gcp:compute/instance:Instance",
            "gcp:compute/firewall:Firewall",
            "gcp:compute/instance:Instance",  # GCP carries the SSH key in instance metadata
            "gcp:compute/disk:Disk",
            "gcp:compute/address:Address",
        ),
    ],
)
def test_plan_offline_for_each_provider(
    provider, server, firewall, key, volume, address, no_pulumi_on_path
) -> None:
    result = invoke("deploy", "--tier", "1", "--provider", provider, "--plan")
    assert result.exit_code == 0, result.output
    for token in (server, firewall, key, volume, address):
        assert token in result.output
    assert "Monthly cost:" in result.output
    assert "Offline: nothing was created" in result.output
    assert "LoadBalancer" not in result.output and "Load balancer:" not in result.output


def test_plan_with_nodes_shows_load_balancer_and_cost_times_nodes(no_pulumi_on_path) -> None:
    result = invoke("deploy", "--tier", "2.5", "--provider", "hetzner", "--plan", "--nodes", "3")
    assert result.exit_code == 0, result.output
    assert "hcloud:index/loadBalancer:LoadBalancer" in result.output
    assert result.output.count("hcloud:index/server:Server") == 3
    assert "Monthly cost: $31.38 = 3 x cx33 at $10.46" in result.output


def test_plan_json(no_pulumi_on_path) -> None:
    result = invoke(
        "deploy",
        "--tier",
        "2",
        "--provider",
        "aws",
        "--plan",
        "--nodes",
        "2",
        "--json",
        "--admin-cidr",
        "203.0.113.7/32",
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["cost"]["monthly_usd"] == pytest.approx(2 * plan["cost"]["offer_monthly_usd"])
    assert plan["admin_cidr"] == "203.0.113.7/32" and plan["notes"]  # the SSH key is a stand-in
    types = [r["type"] for r in plan["resources"]]
    assert types.count("aws:ec2/instance:Instance") == 2
    assert "aws:lb/loadBalancer:LoadBalancer" in types
    group = next(r for r in plan["resources"] if r["type"] == "aws:ec2/securityGroup:SecurityGroup")
    ssh = [rule for rule in group["properties"]["ingress"] if rule["fromPort"] == 22]
    assert ssh and ssh[0]["cidrBlocks"] == ["203.0.113.7/32"]


def test_plan_refuses_ssh_from_everywhere() -> None:
    result = invoke(
        "deploy", "--tier", "1", "--provider", "hetzner", "--plan", "--admin-cidr", "0.0.0.0/0"
    )
    assert result.exit_code == 2
    assert "whole internet" in result.output


def test_plan_unknown_tier_and_provider() -> None:
    result = invoke("deploy", "--tier", "9", "--provider", "hetzner", "--plan")
    assert result.exit_code == 2 and "unknown tier" in result.output
    result = invoke("deploy", "--tier", "1", "--provider", "digitalocean", "--plan")
    assert result.exit_code == 2 and "unknown provider" in result.output


def test_deploy_without_pulumi_cli_says_how_to_install(
    no_pulumi_on_path, isolated_env, monkeypatch
) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", TOKEN)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    write_ssh_key(isolated_env)
    result = invoke(
        "deploy", "--tier", "1", "--provider", "hetzner", "--admin-cidr", "203.0.113.7/32", "--yes"
    )
    assert result.exit_code == 2, result.output
    assert "Pulumi CLI" in result.output
    assert "curl -fsSL https://get.pulumi.com | sh" in result.output
    assert "--plan" in result.output
    assert TOKEN not in result.output and PASSPHRASE not in result.output


def test_deploy_without_credentials_names_the_variable(isolated_env) -> None:
    write_ssh_key(isolated_env)
    result = invoke(
        "deploy", "--tier", "1", "--provider", "hetzner", "--admin-cidr", "203.0.113.7/32"
    )
    assert result.exit_code == 2
    assert "HCLOUD_TOKEN" in result.output


def test_deploy_requires_admin_cidr_and_ssh_key(isolated_env, monkeypatch) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", TOKEN)
    result = invoke("deploy", "--tier", "1", "--provider", "hetzner")
    assert result.exit_code == 2 and "--admin-cidr is required" in result.output
    result = invoke(
        "deploy", "--tier", "1", "--provider", "hetzner", "--admin-cidr", "203.0.113.7/32"
    )
    assert result.exit_code == 2
    assert "id_ed25519.pub does not exist" in result.output and "ssh-keygen" in result.output
    private = write_ssh_key(isolated_env).with_suffix("")
    result = invoke(
        "deploy",
        "--tier",
        "1",
        "--provider",
        "hetzner",
        "--admin-cidr",
        "203.0.113.7/32",
        "--ssh-public-key",
        str(private),
    )
    assert result.exit_code == 2 and "private key" in result.output


@pytest.fixture
def fake_pulumi(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> FakeBackend:
    """The CLI with the Automation API swapped for FakeBackend (and a pretend CLI on PATH)."""
    import hybridctl.deploy.pulumi.driver as driver

    backend = FakeBackend()
    monkeypatch.setattr(driver, "open_automation_stack", backend)
    monkeypatch.setattr(driver, "find_pulumi_cli", lambda: Path("/usr/local/bin/pulumi"))
    # The fake servers' IPs are documentation addresses: record the SSH hand-over instead.
    backend.pushed = []  # type: ignore[attr-defined]
    monkeypatch.setattr(driver, "SshBox", FakeBox)  # no rotation or serving wait over SSH
    monkeypatch.setattr(
        driver,
        "deliver_stack",
        lambda record, archive, env, *, say: backend.pushed.append(record.name),  # type: ignore[attr-defined]
    )
    monkeypatch.setenv("HCLOUD_TOKEN", TOKEN)
    write_ssh_key(isolated_env)
    return backend


def test_deploy_status_outputs_list_destroy(fake_pulumi: FakeBackend, isolated_env) -> None:
    result = invoke(
        "deploy",
        "--tier",
        "1",
        "--provider",
        "hetzner",
        "--name",
        "web",
        "--admin-cidr",
        "203.0.113.7/32",
        input="y\n",
    )
    assert result.exit_code == 0, result.output
    assert "Deployed web" in result.output and "198.51.100.7" in result.output
    assert "StrictHostKeyChecking=yes" in result.output
    assert fake_pulumi.pushed == ["web"]  # type: ignore[attr-defined]  (bundle and .env over SSH)
    passphrase_file = isolated_env / "state" / "pulumi-passphrase"
    assert passphrase_file.stat().st_mode & 0o777 == 0o600
    passphrase = passphrase_file.read_text().strip()
    assert passphrase not in result.output and TOKEN not in result.output

    listing = invoke("deployments", "--json")
    assert listing.exit_code == 0
    rows = json.loads(listing.stdout)
    assert [(r["name"], r["tier"], r["status"], r["ip"]) for r in rows] == [
        ("web", "1", "deployed", "198.51.100.7")
    ]
    table = invoke("deployments")
    assert "web" in table.output and "hetzner" in table.output

    outputs = invoke("outputs", "web", "--json")
    data = json.loads(outputs.stdout)
    assert data["gateway_url"] == "https://198.51.100.7"
    assert Path(data["known_hosts"]).read_text().startswith("hybridctl-web,198.51.100.7 ")

    status = invoke("status", "web")
    assert status.exit_code == 0
    assert "deployed" in status.output and "last Pulumi update: succeeded" in status.output

    update_plan = invoke(
        "deploy", "--tier", "2", "--provider", "hetzner", "--name", "web", "--plan"
    )
    assert update_plan.exit_code == 0, update_plan.output
    assert "web exists (tier 1)" in update_plan.output and "cx23" in update_plan.output
    assert "203.0.113.7/32" in update_plan.output  # the recorded admin network, no placeholder

    typo = invoke("status", "wbe")
    assert typo.exit_code == 2 and "did you mean 'web'" in typo.output

    declined = invoke("destroy", "web", input="n\n")
    assert declined.exit_code == 1 and "cancelled" in declined.output
    destroyed = invoke("destroy", "web", "--yes")
    assert destroyed.exit_code == 0, destroyed.output
    assert json.loads(invoke("deployments", "--json").stdout) == []


def test_stack_locked_exit_code_and_hint(fake_pulumi: FakeBackend) -> None:
    from pulumi.automation import errors as auto_errors

    from tests.deploy_fixtures import command_result

    fake_pulumi.stack_kwargs = {
        "fail": {
            "preview": auto_errors.ConcurrentUpdateError(
                command_result("error: [409] Conflict: Another update is currently in progress.")
            )
        }
    }
    result = invoke(
        "deploy",
        "--tier",
        "1",
        "--provider",
        "hetzner",
        "--name",
        "web",
        "--admin-cidr",
        "203.0.113.7/32",
        "--yes",
    )
    assert result.exit_code == 1
    assert "locked" in result.output and "hybridctl deploy --cancel web" in result.output
    cancelled = invoke("deploy", "--cancel", "web")
    assert cancelled.exit_code == 0, cancelled.output
    assert fake_pulumi.stacks["web"].calls[-1] == "cancel"


def test_status_without_pulumi_shows_the_record(fake_pulumi: FakeBackend, monkeypatch) -> None:
    invoke(
        "deploy",
        "--tier",
        "1",
        "--provider",
        "hetzner",
        "--name",
        "web",
        "--admin-cidr",
        "203.0.113.7/32",
        "--yes",
    )
    import hybridctl.deploy.pulumi.driver as driver

    monkeypatch.setattr(driver, "find_pulumi_cli", lambda: None)
    result = invoke("status", "web", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["record"]["status"] == "deployed"
    assert "not installed" in data["live_error"]


def test_no_deployments_yet() -> None:
    result = invoke("deployments")
    assert result.exit_code == 0 and "No deployments yet" in result.output
    assert invoke("outputs", "nothing").exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["--tier", "2", "--provider", "hetzner", "--plan", "--cancel", "x"],
        ["--resume", "x", "--cancel", "y"],
        ["--resume", "x", "--plan"],
    ],
)
def test_modes_cannot_be_combined(args: list[str]) -> None:
    from typer.testing import CliRunner

    from hybridctl.cli.app import app

    result = CliRunner().invoke(app, ["deploy", *args])
    assert result.exit_code == 2, result.output
    assert "cannot be combined" in result.output
