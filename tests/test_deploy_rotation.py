"""Host key rotation against a real sshd: the user data's key stops identifying the box.

Each test starts its own OpenSSH server (rotation changes its key), reached with the key it
was started with pinned, exactly as a booted cloud box is reached with the user data's key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.catalog import deployments
from hybridctl.catalog.deployments import DeploymentRecord
from hybridctl.deploy.box.rotation import RotationPlan, rotate_host_key
from hybridctl.deploy.box.sshbox import SshBox
from hybridctl.errors import HybridctlError
from tests.ssh_fixtures import SshServer, missing_reason, start_sshd, stop_sshd

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="rotates a root-owned host key")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SshServer]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    started = start_sshd(tmp_path / "sshd")
    yield started
    stop_sshd(started)


def _plan(server: SshServer, cloud_dir: Path) -> RotationPlan:
    root = server.log.parent
    return RotationPlan(
        key_path=str(root / "ssh_host_ed25519_key"),
        reload=f"kill -HUP $(cat {root / 'sshd.pid'})",  # what `systemctl reload ssh` sends
        cloud_dir=str(cloud_dir),
    )


def _fake_cloud_init(root: Path, private_key: str) -> Path:
    """cloud-init's copy of the user data, holding the host private key as the real one does."""
    instance = root / "instances" / "i-123"
    instance.mkdir(parents=True)
    (root / "instance").symlink_to(instance)
    indented = "\n".join(f"    {line}" for line in private_key.strip().splitlines())
    text = f"#cloud-config\nssh_keys:\n  ed25519_private: |\n{indented}\nruncmd: []\n"
    (instance / "user-data.txt").write_text(text)
    (instance / "user-data.txt.i").write_text("Content-Type: text/cloud-config\n\n" + text)
    (instance / "obj.pkl").write_bytes(private_key.encode())
    return instance


def test_rotation_replaces_the_key_and_the_old_one_is_refused(
    server: SshServer, tmp_path: Path
) -> None:
    key_file = server.log.parent / "ssh_host_ed25519_key"
    old_private = key_file.read_text()
    instance = _fake_cloud_init(tmp_path / "cloud", old_private)
    said: list[str] = []

    new_public = rotate_host_key(
        server.client(server.known_hosts),
        [f"[127.0.0.1]:{server.port}"],
        say=said.append,
        plan=_plan(server, tmp_path / "cloud"),
    )

    assert new_public.split()[1] != server.host_public_key.split()[1]
    assert (server.log.parent / "ssh_host_ed25519_key.pub").read_text().split()[1] == (
        new_public.split()[1]
    )
    assert key_file.read_text() != old_private and not key_file.with_suffix(".new").exists()
    # The key in the user data no longer opens a verified connection to the box ...
    with pytest.raises(HybridctlError, match="does not match the one pinned"):
        server.client(server.known_hosts).check("true", what="login with the old key")
    # ... the new one does, and the box's copies of the user data lost the private key.
    pinned = tmp_path / "new_known_hosts"
    pinned.write_text(f"[127.0.0.1]:{server.port} {new_public}\n")
    assert server.client(pinned).check("echo ok", what="login").strip() == "ok"
    body = old_private.strip().splitlines()[2]
    for name in ("user-data.txt", "user-data.txt.i"):
        text = (instance / name).read_text()
        assert body not in text and "PRIVATE KEY" not in text and "runcmd" in text
    assert not (instance / "obj.pkl").exists()
    assert any("no longer identifies the box" in line for line in said)
    assert all(body not in line for line in said)


def test_sshbox_rotates_each_node_once_and_pins_only_the_new_key(
    server: SshServer, isolated_env: Path, tmp_path: Path
) -> None:
    deployments.deployment_dir("rot").mkdir(parents=True)
    known_hosts = deployments.known_hosts_path("rot")
    known_hosts.write_text(server.known_hosts.read_text())
    record = DeploymentRecord(
        name="rot",
        provider="hetzner",
        tier="1",
        region="nbg1",
        instance_type="cpx11",
        nodes=1,
        admin_cidr="127.0.0.1/32",
        ssh_public_key="",
        host_key_public=server.host_public_key,
        host_key_fingerprint="",
        known_hosts=str(known_hosts),
        backend_url="file:///tmp",
        monthly_usd=5.0,
        status="deployed",
        created="t0",
        updated="t0",
        outputs={"ip": "127.0.0.1", "ssh_user": server.user},
    )
    deployments.save_record(record)
    box = SshBox(
        port=server.port,
        identity_file=server.identity_file,
        config_file="none",
        rotation=_plan(server, tmp_path / "no-cloud-init"),
    )

    rotated = box.rotate(record, say=lambda _: None)

    new_key = rotated.rotated_host_keys["127.0.0.1"]
    assert deployments.load_record("rot").rotated_host_keys == {"127.0.0.1": new_key}
    pins = known_hosts.read_text()
    assert f"[127.0.0.1]:{server.port} {new_key}" in pins
    assert server.host_public_key.split()[1] not in pins.split("\n", 1)[1]  # alias line only
    # The pinned file now reaches the box; a second pass leaves the rotated node alone.
    assert box.connect(rotated, "127.0.0.1").check("echo ok", what="login").strip() == "ok"
    assert box.rotate(rotated, say=lambda _: None) == rotated


def test_the_scrubbed_user_data_keeps_the_public_key_and_stays_valid_cloud_config(
    tmp_path: Path,
) -> None:
    import shutil
    import subprocess

    from hybridctl.catalog import load_catalog
    from hybridctl.deploy.box.hostkeys import generate_host_key
    from hybridctl.deploy.box.rotation import without_private_key
    from hybridctl.render.cloud_init import SshHostKey
    from hybridctl.render.user_data import render_user_data

    private, public = generate_host_key("host")
    user_data = render_user_data(
        load_catalog(),
        "1",
        "gcp",
        admin_ssh_public_key=generate_host_key("admin")[1],
        admin_cidr="203.0.113.7/32",
        ssh_host_key=SshHostKey(private_openssh=private, public_openssh=public),
        with_bundle=False,
    )
    scrubbed = without_private_key(user_data)
    assert private.strip().splitlines()[2] in user_data
    assert "PRIVATE KEY" not in scrubbed and public.split()[1] in scrubbed
    assert scrubbed.count("\n") == user_data.count("\n") - len(private.strip().splitlines())
    if shutil.which("cloud-init") is None:
        pytest.skip("cloud-init is not installed (apt-get install cloud-init)")
    path = tmp_path / "user-data.yaml"
    path.write_text(scrubbed)
    done = subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
