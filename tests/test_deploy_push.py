"""The bundle and .env reach a box over a real SSH connection with its host key pinned."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from hybridctl.deploy.box.push import push_files, wait_for_cloud_init, wait_for_ssh
from hybridctl.errors import HybridctlError
from hybridctl.render.cloud_init import bundle_archive
from tests.ssh_fixtures import SshServer

FILES = {"docker-compose.yml": "services: {}\n", "models/fetch-models.sh": "#!/bin/sh\n"}
ENV = {"LITELLM_MASTER_KEY": "sk-pushed-secret-0123456789", "REDIS_PASSWORD": "redis-pw-42424242"}


@pytest.mark.skipif(os.geteuid() != 0, reason="writes a root-owned .env: run as root (as CI does)")
def test_push_unpacks_the_bundle_and_writes_a_root_only_env(
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    client = sshd.client(sshd.known_hosts)
    said: list[str] = []
    wait_for_ssh(client, timeout_s=30, say=said.append)
    wait_for_cloud_init(client, timeout_s=60, say=said.append)  # no cloud-init here: passes
    remote = tmp_path / "opt" / "hybridctl"
    push_files(client, bundle_archive(FILES), ENV, remote_dir=str(remote), say=said.append)

    assert (remote / "docker-compose.yml").read_text() == FILES["docker-compose.yml"]
    assert os.access(remote / "models" / "fetch-models.sh", os.X_OK)
    env = remote / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and env.stat().st_uid == 0
    assert "LITELLM_MASTER_KEY=sk-pushed-secret-0123456789" in env.read_text()
    assert not (remote / ".env.new").exists()
    # Nothing secret travels in a process argument or shows in what the push said.
    assert all(value not in " ".join(said) for value in ENV.values())
    log = sshd.log.read_text(errors="replace")
    assert all(value not in log for value in ENV.values())


def test_push_refuses_a_host_whose_key_does_not_match(sshd: SshServer) -> None:
    client = sshd.client(sshd.wrong_known_hosts)
    with pytest.raises(HybridctlError, match="does not match the one pinned"):
        wait_for_ssh(client, timeout_s=30, say=lambda _: None)


def test_the_archive_is_a_tar_xz_of_the_bundle(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar.xz"
    path.write_bytes(bundle_archive(FILES))
    with tarfile.open(path, "r:xz") as tar:
        assert sorted(tar.getnames()) == sorted(FILES)
