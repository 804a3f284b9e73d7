"""`upgrade` on each cloud under Pulumi's mocks: back up, resize, push, rotate, wait, check.

The driver runs its real inline program (the provider's component) under Pulumi's mocks on
every `up`; the SSH side is a recording fake. Each test deploys tier 1 and upgrades it.
"""

from __future__ import annotations

import io
import lzma
import tarfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hybridctl.catalog import deployments, load_catalog
from hybridctl.deploy.pulumi.driver import Deployer
from hybridctl.deploy.pulumi.spec import DeployRequest
from hybridctl.errors import CheckFailed
from hybridctl.ops.upgrade import UpgradeRequest
from hybridctl.ops.upgrade_cloud import CloudUpgrader
from tests.deploy_fixtures import CREDENTIALS, FakeBox, MockedBackend, write_ssh_key

SERVER = {
    "hetzner": ("hcloud:index/server:Server", "serverType"),
    "aws": ("aws:ec2/instance:Instance", "instanceType"),
    "gcp": ("gcp:compute/instance:Instance", "machineType"),
}


class Rig:
    """A driver and an upgrader sharing one call log, a mocked backend and a fake box."""

    def __init__(self, provider: str, home: Path) -> None:
        self.calls: list[str] = []
        self.backend = MockedBackend(self.calls)
        self.box = FakeBox(self.calls)
        self.archives: list[bytes] = []
        self.buffer = io.StringIO()
        console = Console(file=self.buffer, width=200, force_terminal=False)
        env = {"HOME": str(home), "PULUMI_CONFIG_PASSPHRASE": "pass-0123456789"}
        env.update(CREDENTIALS[provider])

        def pusher(record: Any, archive: bytes, dotenv: Any, *, say: Any) -> None:
            self.calls.append(f"push {record.tier}")
            self.archives.append(archive)

        self.deployer = Deployer(
            console,
            opener=self.backend,
            confirm=lambda question: True,
            env=env,
            cli_finder=lambda: Path("/usr/local/bin/pulumi"),
            pusher=pusher,
            box=self.box,
        )
        self.upgrader = CloudUpgrader(
            console, confirm=lambda q: True, deployer=self.deployer, box=self.box
        )
        self.provider = provider

    def deploy(self, tier: str) -> Any:
        request = DeployRequest(
            tier_id=tier, provider=self.provider, name="up-cloud", admin_cidr="203.0.113.7/32"
        )
        return self.deployer.deploy(load_catalog(), request, yes=True)

    def upgrade(self, tier: str) -> Any:
        return self.upgrader.upgrade(
            load_catalog(),
            UpgradeRequest(name="up-cloud", tier_id=tier, yes=True),
            deployments.load_record("up-cloud"),
        )

    def server_type(self, run_index: int) -> str:
        token, field = SERVER[self.provider]
        [server] = self.backend.runs[run_index].of_type(token)
        return str(server.inputs[field]).rsplit("/", 1)[-1]


@pytest.fixture
def rig_for(isolated_env: Path):
    write_ssh_key(isolated_env)
    return lambda provider: Rig(provider, isolated_env)


# The tier the upgrade tests move to: 2.5, not 2 (tiers 1 and 2 share Hetzner's cx23, so 1 -> 2
# resizes nothing there).
UP = "2.5"


def _offer(tier: str, provider: str) -> str:
    tier_ = load_catalog().tier(tier)
    return next(o.instance_type for o in tier_.offers if o.provider == provider)


def _models(tier: str) -> str:
    return ",".join(e.model for e in load_catalog().tier(tier).models)


def _archive_file(archive: bytes, path: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(archive)), mode="r:") as tar:
        member = tar.extractfile(path)
        assert member is not None
        return member.read().decode()


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_upgrade_backs_up_resizes_pushes_and_verifies_in_that_order(rig_for, provider) -> None:
    rig = rig_for(provider)
    rig.deploy("1")
    assert rig.calls == ["preview", "up", "push 1", "rotate", f"wait 1 {_models('1')}"]
    rig.calls.clear()

    result = rig.upgrade(UP)

    assert rig.calls == [
        "backup 1",
        "preview",
        "up",
        f"push {UP}",
        "rotate",
        f"wait {UP} {_models(UP)}",
        f"check {UP}",
    ]
    assert result.previous_tier == "1" and result.record.tier == UP
    # The resize happened in the stack: the same server, the new offer's type.
    assert rig.server_type(0) == _offer("1", provider)
    assert rig.server_type(1) == _offer(UP, provider) != _offer("1", provider)
    assert "resizes" in rig.buffer.getvalue()  # the downtime warning before the apply
    assert rig.box.backups == [result.backup] and result.backup.parent.name == "backups"
    # The pushed bundle is the new tier's: its models are the ones the router serves.
    models_ini = _archive_file(rig.archives[-1], "llm/models.ini")
    assert all(f"[{e.model}]" in models_ini for e in load_catalog().tier(UP).models)
    saved = deployments.load_record("up-cloud")
    assert saved.tier == UP and saved.instance_type == _offer(UP, provider)


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_a_failed_check_rolls_the_bundle_back_and_says_the_server_stays_resized(
    rig_for, provider
) -> None:
    rig = rig_for(provider)
    rig.deploy("1")
    rig.calls.clear()
    rig.box.problem = "status --check: models: qwen failed"

    with pytest.raises(CheckFailed) as caught:
        rig.upgrade(UP)

    assert caught.value.exit_code == 1
    assert "Rolled back to the previous bundle (tier 1): serving again" in caught.value.message
    assert rig.calls[-2:] == [f"check {UP}", f"rollback {_models('1')}"]
    saved = deployments.load_record("up-cloud")
    assert saved.tier == "1" and saved.status == "deployed"
    assert saved.last_error and f"stays resized to {_offer(UP, provider)}" in saved.last_error


@pytest.mark.parametrize("provider", ["aws", "gcp"])
def test_moving_to_and_from_a_gpu_tier_pushes_the_host_script_that_matches(
    rig_for, provider
) -> None:
    rig = rig_for(provider)
    rig.deploy("3")
    assert "no GPU needed" in _archive_file(rig.archives[-1], "host/gpu.sh")
    rig.upgrade("4")
    script = _archive_file(rig.archives[-1], "host/gpu.sh")
    assert "ubuntu-drivers install --gpgpu" in script and "nvidia-ctk runtime" in script
    [server] = rig.backend.runs[-1].of_type(SERVER[provider][0])
    assert "guestAccelerators" in server.inputs or provider == "aws"
    rig.upgrade("3")
    assert "removing the NVIDIA container toolkit" in _archive_file(rig.archives[-1], "host/gpu.sh")


def test_a_rotated_host_key_stays_pinned_across_updates_and_is_dropped_on_replacement(
    rig_for,
) -> None:
    from hybridctl.deploy.box import hostkeys

    rig = rig_for("hetzner")
    _, rotated = hostkeys.generate_host_key("rotated")
    rig.box.rotate_to = rotated
    record = rig.deploy("1")
    known = Path(record.known_hosts).read_text()
    assert f"198.51.100.7 {rotated.split()[0]} {rotated.split()[1]}" in known
    assert f"hybridctl-up-cloud {record.host_key_public.split()[0]}" in known
    assert "198.51.100.7" not in known.splitlines()[0]  # the user data's key: alias only
    rig.box.rotate_to = None
    again = rig.deploy("1")  # an update keeps the rotated pin
    assert again.rotated_host_keys == {"198.51.100.7": rotated}
    assert rotated.split()[1] in Path(again.known_hosts).read_text()


def _user_data(rig: Rig, run_index: int) -> str:
    token = SERVER[rig.provider][0]
    [server] = rig.backend.runs[run_index].of_type(token)
    if rig.provider == "gcp":
        return str(server.inputs["metadata"]["user-data"])
    return str(server.inputs.get("userData") or server.inputs.get("userDataBase64"))


def test_on_gcp_the_private_key_leaves_the_metadata_once_the_box_has_its_own(rig_for) -> None:
    from hybridctl.deploy.box import hostkeys

    rig = rig_for("gcp")
    _, rotated = hostkeys.generate_host_key("rotated")
    rig.box.rotate_to = rotated
    record = rig.deploy("1")

    assert rig.calls == ["preview", "up", "push 1", "rotate", "up", f"wait 1 {_models('1')}"]
    first, scrubbed = _user_data(rig, 0), _user_data(rig, 1)
    assert "BEGIN OPENSSH PRIVATE KEY" in first
    assert "PRIVATE KEY" not in scrubbed and "ed25519_private: removed" in scrubbed
    assert record.host_key_public.split()[1] in scrubbed  # the public key stays (the pin check)
    assert "removing the host private key" in rig.buffer.getvalue().lower()
    # Later updates keep it out of the metadata, in a single `up`.
    rig.calls.clear()
    rig.deploy("1")
    assert rig.calls.count("up") == 1 and "PRIVATE KEY" not in _user_data(rig, -1)


@pytest.mark.parametrize("provider", ["hetzner", "aws"])
def test_elsewhere_the_user_data_is_left_as_it_is(rig_for, provider) -> None:
    from hybridctl.deploy.box import hostkeys

    rig = rig_for(provider)
    _, rotated = hostkeys.generate_host_key("rotated")
    rig.box.rotate_to = rotated
    rig.deploy("1")
    # One `up`: changing user data would replace (Hetzner) or stop (AWS) the server; the
    # rotation alone makes the key in it identify nothing.
    assert rig.calls.count("up") == 1
