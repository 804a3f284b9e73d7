"""Rendered files run through the real tools that will read them: cloud-init, Caddy, Redis.

The tools come from Debian (`apt-get install cloud-init caddy redis-server`); without them these
tests are skipped with that reason. The compose file is validated in every run by `check_bundle`
against the vendored Compose Specification schema (no Docker engine is needed for that).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hybridctl.render import SshHostKey, render_user_data
from tests.render_fixtures import ADMIN_CIDR, ADMIN_KEY, catalog, ed25519, render, tier_ids

needs_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None,
    reason="cloud-init is not installed (apt-get install cloud-init)",
)
needs_caddy = pytest.mark.skipif(
    shutil.which("caddy") is None, reason="caddy is not installed (apt-get install caddy)"
)


def _cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_cloud_init
@pytest.mark.parametrize(
    ("tier_id", "provider"),
    [(t, "aws") for t in tier_ids()] + [("2", "hetzner"), ("2", "gcp")],
)
def test_deploy_user_data_is_valid_cloud_config(
    tmp_path: Path, tier_id: str, provider: str
) -> None:
    private, public = ed25519(tmp_path, "host")
    user_data = render_user_data(
        catalog(),
        tier_id,
        provider,
        admin_ssh_public_key=ADMIN_KEY,
        admin_cidr=ADMIN_CIDR,
        ssh_host_key=SshHostKey(private_openssh=private, public_openssh=public),
        env={"LITELLM_MASTER_KEY": "sk-test-0123456789", "REDIS_PASSWORD": "p" * 24},
    )
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data)
    result = _cloud_init_schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


@needs_cloud_init
def test_cloud_init_schema_catches_a_broken_config(tmp_path: Path) -> None:
    render(tmp_path, "1")
    path = tmp_path / "cloud-init.yaml"
    assert _cloud_init_schema(path).returncode == 0
    path.write_text(path.read_text().replace("ssh_pwauth: false", "ssh_pwauth: [maybe]"))
    assert _cloud_init_schema(path).returncode != 0


@needs_caddy
@pytest.mark.parametrize("domain", [None, "llm.example.com"], ids=["self-signed", "domain"])
def test_caddyfile_is_valid(tmp_path: Path, domain: str | None) -> None:
    render(tmp_path / "bundle", "2", domain=domain)
    home = tmp_path / "caddy-home"
    environment = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "PUBLIC_HOST": "203.0.113.50",
    }
    caddyfile = tmp_path / "bundle" / "proxy" / "Caddyfile"
    command = ["caddy", "validate", "--config", str(caddyfile), "--adapter", "caddyfile"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert adapted.returncode == 0
    assert '"dial":"gateway:4000"' in adapted.stdout
    assert ('"llm.example.com"' in adapted.stdout) == (domain is not None)
    assert ('"203.0.113.50"' in adapted.stdout) == (domain is None)


needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="redis is not installed (apt-get install redis-server)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_redis
def test_redis_command_sets_the_password_without_putting_it_in_argv(tmp_path: Path) -> None:
    render(tmp_path / "bundle", "2")
    redis = yaml.safe_load((tmp_path / "bundle" / "docker-compose.yml").read_text())["services"][
        "redis"
    ]
    assert redis["entrypoint"] == ["/bin/sh", "-c"]
    port = _free_port()
    # The rendered command as the container runs it ($$ is compose's escape for $), with the
    # paths moved into tmp_path and a free port, since this runs on the test machine.
    command = (
        redis["command"][0]
        .replace("$$", "$")
        .replace("/tmp/redis.conf", str(tmp_path / "redis.conf"))
        .replace("dir /data", f"dir {tmp_path}")
        + f" --port {port} --bind 127.0.0.1"
    )
    password = "render-test-password-0123456789"
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        env={**os.environ, "REDIS_PASSWORD": password},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        cli = ["redis-cli", "-p", str(port)]
        for _ in range(100):
            probe = subprocess.run([*cli, "ping"], capture_output=True, text=True)
            if probe.stdout.strip():
                break
            time.sleep(0.1)
        assert "NOAUTH" in probe.stdout  # a password is required ...
        authed = subprocess.run(
            [*cli, "ping"],
            capture_output=True,
            text=True,
            env={**os.environ, "REDISCLI_AUTH": password},
        )
        assert authed.stdout.strip() == "PONG"  # ... and it is the one from the environment
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        assert "redis-server" in argv and password not in argv
        maxmemory = subprocess.run(
            [*cli, "config", "get", "maxmemory"],
            capture_output=True,
            text=True,
            env={**os.environ, "REDISCLI_AUTH": password},
        ).stdout.split()
        assert maxmemory[1] == str(96 * 1024 * 1024)  # 3/4 of the 128 MiB container limit
    finally:
        process.terminate()
        process.wait(timeout=10)
