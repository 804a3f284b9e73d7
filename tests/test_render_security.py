"""Security rules of a rendered bundle, and --check catching bundles that break them."""

from __future__ import annotations

import base64
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.errors import InputError
from hybridctl.render import SshHostKey, check_bundle, render_user_data
from hybridctl.render.checks import published_ports
from hybridctl.render.envfile import check_env_value, format_env, read_env
from tests.render_fixtures import (
    ADMIN_CIDR,
    ADMIN_KEY,
    SECRET_ENV,
    catalog,
    ed25519,
    render,
    tier_ids,
)


def _compose(bundle: Path) -> dict:
    return yaml.safe_load((bundle / "docker-compose.yml").read_text())


def _write_compose(bundle: Path, compose: dict) -> None:
    (bundle / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))


@pytest.mark.parametrize("tier_id", tier_ids())
def test_only_the_proxy_publishes_ports(tmp_path: Path, tier_id: str) -> None:
    render(tmp_path, tier_id)
    compose = _compose(tmp_path)
    for name, service in compose["services"].items():
        if name == "proxy":
            published = [p for entry in service["ports"] for p in published_ports(entry)]
            assert {(pub, target) for _, pub, target in published} == {("80", "80"), ("443", "443")}
        else:
            assert "ports" not in service, name
        assert service.get("network_mode") != "host"
    networks = compose["networks"]
    for private in ("llm", "redis"):
        if private in compose["services"]:
            for network in compose["services"][private]["networks"]:
                assert networks[network]["internal"] is True


def test_no_secret_appears_outside_env(tmp_path: Path) -> None:
    result = render(tmp_path, "2", environ=SECRET_ENV)
    values = read_env(tmp_path / ".env")
    for name, value in SECRET_ENV.items():
        assert values[name] == value
    secrets = [v for v in values.values() if v]
    assert len(secrets) == len(SECRET_ENV) + 3  # the three generated ones
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(errors="replace")
            for secret in secrets:
                assert secret not in text, path
    # Nor in what the command reports back.
    assert not any(secret in repr(result.report) for secret in secrets)
    # The compose file refers to them, never holds them.
    gateway = _compose(tmp_path)["services"]["gateway"]["environment"]
    assert gateway["LITELLM_MASTER_KEY"].startswith("${LITELLM_MASTER_KEY")
    assert gateway["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}"


def test_env_file_is_private(tmp_path: Path) -> None:
    render(tmp_path, "1")
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    (tmp_path / ".env").chmod(0o644)
    report = check_bundle(tmp_path, catalog())
    assert any(".env is readable by others" in p for p in report.problems)
    render(tmp_path, "1")  # a re-render repairs the mode
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


def test_bundle_cloud_init_is_hardened_and_keyless(tmp_path: Path) -> None:
    render(tmp_path, "1")
    text = (tmp_path / "cloud-init.yaml").read_text()
    data = yaml.safe_load(text)
    assert text.startswith("#cloud-config\n")
    assert data["ssh_pwauth"] is False
    assert data["disable_root"] is True
    (user,) = data["users"]
    assert user["name"] != "root" and user["lock_passwd"] is True
    assert user["ssh_authorized_keys"] == [ADMIN_KEY]
    sshd = next(f for f in data["write_files"] if "sshd_config" in f["path"])["content"]
    assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd
    assert "ssh_keys" not in data and "PRIVATE KEY" not in text
    assert not any(f["path"].endswith("/.env") for f in data["write_files"])
    commands = [" ".join(map(str, c)) for c in data["runcmd"]]
    assert f"ufw allow from {ADMIN_CIDR} to any port 22 proto tcp" in commands
    assert "ufw allow 80/tcp" in commands and "ufw allow 443/tcp" in commands
    assert "ufw --force enable" in commands
    assert "docker-compose-plugin" in data["packages"]
    assert "unattended-upgrades" in data["packages"]
    assert data["swap"]["size"] == int(catalog().tier("1").swap_gib * 2**30)
    assert "swap" not in yaml.safe_load(
        render(tmp_path / "t2", "2").rendered.files["cloud-init.yaml"]
    )


def test_user_data_for_a_deploy_carries_bundle_key_and_env(tmp_path: Path) -> None:
    private, public = ed25519(tmp_path, "host")
    env = {"LITELLM_MASTER_KEY": "sk-deploy-master-0123456789", "REDIS_PASSWORD": "r" * 20}
    user_data = render_user_data(
        catalog(),
        "2",
        "aws",
        admin_ssh_public_key=ADMIN_KEY,
        admin_cidr=ADMIN_CIDR,
        ssh_host_key=SshHostKey(private_openssh=private, public_openssh=public),
        env=env,
    )
    data = yaml.safe_load(user_data)
    assert data["ssh_keys"]["ed25519_private"].strip() == private.strip()
    assert data["ssh_keys"]["ed25519_public"] == public
    assert data["ssh_deletekeys"] is True
    files = {f["path"]: f for f in data["write_files"]}
    dotenv = files["/opt/hybridctl/.env"]
    assert dotenv["permissions"] == "0600"
    assert (
        "LITELLM_MASTER_KEY=sk-deploy-master-0123456789"
        in base64.b64decode(dotenv["content"]).decode()
    )
    archive = base64.b64decode(files["/var/lib/hybridctl/bundle.tar.xz"]["content"])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:xz") as tar:
        names = tar.getnames()
        compose = tar.extractfile("docker-compose.yml").read().decode()  # type: ignore[union-attr]
    assert "docker-compose.yml" in names and "router/litellm_config.yaml" in names
    assert "cloud-init.yaml" not in names
    assert "sk-deploy-master" not in compose
    assert "private_openssh=<hidden>" in repr(SshHostKey(private, public))


def test_user_data_refuses_unsafe_inputs(tmp_path: Path) -> None:
    private, public = ed25519(tmp_path, "admin")
    common: dict[str, Any] = {"admin_ssh_public_key": public}
    with pytest.raises(InputError, match="whole internet"):
        render_user_data(catalog(), "1", "hetzner", admin_cidr="0.0.0.0/0", **common)
    with pytest.raises(InputError, match="not an IP network"):
        render_user_data(catalog(), "1", "hetzner", admin_cidr="my-laptop", **common)
    with pytest.raises(InputError, match="private key"):
        render_user_data(
            catalog(), "1", "hetzner", admin_cidr=ADMIN_CIDR, admin_ssh_public_key=private
        )


def test_check_catches_a_published_redis_port(tmp_path: Path) -> None:
    render(tmp_path, "2")
    compose = _compose(tmp_path)
    compose["services"]["redis"]["ports"] = ["6379:6379"]
    _write_compose(tmp_path, compose)
    problems = check_bundle(tmp_path, catalog()).problems
    assert any("Redis (redis) publishes port 0.0.0.0:6379->6379" in p for p in problems)
    assert any("docker-compose.yml was changed" in p for p in problems)


def test_check_catches_a_public_model_server(tmp_path: Path) -> None:
    render(tmp_path, "2")
    compose = _compose(tmp_path)
    compose["services"]["llm"]["ports"] = [{"target": 8080, "published": 8080}]
    compose["services"]["llm"]["networks"] = ["internal", "edge"]
    compose["services"]["proxy"]["ports"].append("8443:8443")
    _write_compose(tmp_path, compose)
    problems = check_bundle(tmp_path, catalog()).problems
    assert any("the model server (llm) publishes port" in p for p in problems)
    assert any("network edge, which is not internal" in p for p in problems)
    assert any("the proxy publishes 0.0.0.0:8443->8443" in p for p in problems)


def test_check_catches_memory_over_the_tier(tmp_path: Path) -> None:
    render(tmp_path, "2")
    compose = _compose(tmp_path)
    compose["services"]["llm"]["deploy"]["resources"]["limits"]["memory"] = "3G"
    del compose["services"]["grafana"]["deploy"]
    _write_compose(tmp_path, compose)
    problems = check_bundle(tmp_path, catalog()).problems
    assert any("memory limits add up to" in p and "over the 3696 MiB" in p for p in problems)
    assert any("service grafana has no memory limit" in p for p in problems)


def test_check_catches_literal_secrets_schema_errors_and_unpinned_images(tmp_path: Path) -> None:
    render(tmp_path, "2")
    values = read_env(tmp_path / ".env")
    compose = _compose(tmp_path)
    compose["services"]["gateway"]["environment"]["LITELLM_MASTER_KEY"] = values[
        "LITELLM_MASTER_KEY"
    ]
    compose["services"]["redis"]["image"] = "redis:latest"
    compose["services"]["proxy"]["bogus_key"] = True
    _write_compose(tmp_path, compose)
    problems = check_bundle(tmp_path, catalog()).problems
    assert any("sets LITELLM_MASTER_KEY to a literal value" in p for p in problems)
    assert any("value of LITELLM_MASTER_KEY appears in docker-compose.yml" in p for p in problems)
    assert any("redis:latest without a pinned tag" in p for p in problems)
    assert any("Compose Specification at services/proxy" in p for p in problems)


def test_check_catches_weakened_cloud_init_and_broken_yaml(tmp_path: Path) -> None:
    render(tmp_path, "2")
    path = tmp_path / "cloud-init.yaml"
    path.write_text(path.read_text().replace("ssh_pwauth: false", "ssh_pwauth: true"))
    (tmp_path / "prometheus" / "prometheus.yml").write_text("scrape_configs: [\n")
    problems = check_bundle(tmp_path, catalog()).problems
    assert any("does not turn SSH password login off" in p for p in problems)
    assert any("prometheus/prometheus.yml is not valid YAML" in p for p in problems)


METADATA_RULE = "-d 169.254.169.254/32 -j REJECT"
BLOCK_SCRIPT = "/usr/local/sbin/hybridctl-block-metadata"


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
@pytest.mark.parametrize("tier_id", tier_ids())
def test_user_data_blocks_containers_from_the_metadata_service(
    tmp_path: Path, tier_id: str, provider: str
) -> None:
    user_data = render_user_data(
        catalog(),
        tier_id,
        provider,
        admin_ssh_public_key=ADMIN_KEY,
        admin_cidr=ADMIN_CIDR,
        env={"LITELLM_MASTER_KEY": "sk-deploy-master-0123456789", "REDIS_PASSWORD": "r" * 20},
    )
    data = yaml.safe_load(user_data)
    files = {f["path"]: f for f in data["write_files"]}
    script = files[BLOCK_SCRIPT]
    assert script["permissions"] == "0755"
    assert f"iptables -w -I DOCKER-USER {METADATA_RULE}" in script["content"]
    # re-applied whenever Docker (re)starts, and before the stack starts
    dropin = files["/etc/systemd/system/docker.service.d/60-hybridctl-metadata.conf"]
    assert f"ExecStartPost={BLOCK_SCRIPT}" in dropin["content"]
    stack = files["/etc/systemd/system/hybridctl-stack.service"]["content"]
    assert stack.index(f"ExecStartPre={BLOCK_SCRIPT}") < stack.index("ExecStart=/usr/bin/docker")
    assert [BLOCK_SCRIPT] in data["runcmd"]
    # the host's own lookup of its public address still uses the metadata service
    host_env = files["/usr/local/sbin/hybridctl-host-env"]["content"]
    assert "http://169.254.169.254/" in host_env
    dotenv = files["/opt/hybridctl/.env"]
    assert (dotenv["owner"], dotenv["permissions"]) == ("root:root", "0600")


def test_metadata_block_script_inserts_the_rule_once(tmp_path: Path) -> None:
    """Run the rendered script against a stand-in iptables that keeps its rules in a file."""
    user_data = render_user_data(
        catalog(), "1", "hetzner", admin_ssh_public_key=ADMIN_KEY, admin_cidr=ADMIN_CIDR
    )
    files = {f["path"]: f for f in yaml.safe_load(user_data)["write_files"]}
    script = tmp_path / "block"
    script.write_text(files[BLOCK_SCRIPT]["content"])
    rules = tmp_path / "rules"
    rules.write_text("")
    fake = tmp_path / "bin" / "iptables"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$1" = -w ] && shift\n'
        'op="$1"; shift\n'
        'case "$op" in\n'
        "  -N) exit 1 ;;\n"  # the chain exists (Docker made it)
        f'  -C) grep -qxF "$*" {rules} ;;\n'
        f'  -I) echo "$*" >> {rules} ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    for _ in range(3):  # Docker restarting re-runs it; the rule must not pile up
        subprocess.run(["sh", str(script)], check=True, env=env, timeout=30)
    assert rules.read_text().splitlines() == [f"DOCKER-USER {METADATA_RULE}"]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("sk-abc$HOME", "a '$'"),
        ("sk-abc${X}", "a '$'"),
        ("sk-abc #tail", "whitespace"),
        ("sk-abc#tail", "a '#'"),
        ("sk-'abc'", 'a "\'"'),
        ('sk-"abc"', "a '\"'"),
        ("sk-a\\nbc", "a '\\\\'"),
        ("sk-a`id`", "a '`'"),
        ("sk-a bc", "whitespace"),
        ("sk-a\tbc", "whitespace"),
        ("sk-a\nbc", "a line break"),
        ("sk-a\x00bc", "a control or non-ASCII character"),
        ("sk-abcé", "a control or non-ASCII character"),
    ],
)
def test_env_values_compose_would_mangle_are_refused(tmp_path: Path, value: str, what: str) -> None:
    with pytest.raises(InputError) as caught:
        render(tmp_path / "fresh", "1", environ={"GROQ_API_KEY": value})
    message = str(caught.value)
    assert f"the value of GROQ_API_KEY contains {what}," in message
    assert value.strip() not in message
    # the same from a hand-edited .env, and on the deploy path (user data)
    existing = tmp_path / "edited"
    existing.mkdir()
    (existing / ".env").write_text(f"REDIS_PASSWORD={value}\n")
    if "\n" not in value:
        with pytest.raises(InputError, match="the value of REDIS_PASSWORD contains"):
            render(existing, "1")
    with pytest.raises(InputError, match="the value of REDIS_PASSWORD contains"):
        format_env({"REDIS_PASSWORD": value})


def test_plain_secret_values_are_kept_verbatim(tmp_path: Path) -> None:
    keys = {
        "OPENAI_API_KEY": "sk-proj-AbC_12-xyz=+/.:@,%~",
        "GEMINI_API_KEY": "AIzaSyA-0123456789_abcdef",
    }
    render(tmp_path, "1", environ=keys)
    values = read_env(tmp_path / ".env")
    for name, value in keys.items():
        assert values[name] == value
    for name in ("LITELLM_MASTER_KEY", "REDIS_PASSWORD"):
        check_env_value(name, values[name])  # generated secrets are always safe
