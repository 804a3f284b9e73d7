"""Security rules of a rendered bundle, and --check catching bundles that break them."""

from __future__ import annotations

import base64
import io
import json
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
    render(tmp_path, tier_id, allow_unverified=True)
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


# -- the edge: unverified models, the proxy's routes and names, Grafana, multi-node ---------------


def _unverified(folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A catalog with a tier that serves a model it has no sha256 for, and that tier. The
    shipped catalog pins every model a tier serves, so this is a copy of it without the ternary
    model's checksum (also the catalog of the commands run here: $HYBRIDCTL_CATALOG)."""
    import re

    from hybridctl.catalog import load_catalog
    from hybridctl.catalog.checks import unverified_models
    from hybridctl.paths import CATALOG_ENV, default_catalog_path

    text = default_catalog_path().read_text()
    pinned = re.compile(r"^    sha256: 2565559c[0-9a-f]{56}\n    sha256_source: .*\n", re.MULTILINE)
    assert pinned.search(text), "the ternary model's checksum moved: update this test"
    copy = folder / "unverified-tiers.yaml"
    copy.write_text(pinned.sub("", text))
    monkeypatch.setenv(CATALOG_ENV, str(copy))
    edited = load_catalog(copy)
    tier_id = next(t.id for t in edited.tiers if unverified_models(edited, t))
    return edited, tier_id


def test_a_model_without_sha256_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.catalog.checks import unverified_models
    from hybridctl.render import render_bundle
    from tests.render_fixtures import options

    edited, tier_id = _unverified(tmp_path, monkeypatch)
    missing = unverified_models(edited, edited.tier(tier_id))
    with pytest.raises(InputError, match="no sha256") as caught:
        render_bundle(edited, options(tier_id), tmp_path / "refused", environ={})
    assert all(name in caught.value.message for name in missing)
    assert "--allow-unverified" in (caught.value.hint or "")
    assert not (tmp_path / "refused").exists()  # refused before anything is written
    allowed = options(tier_id, allow_unverified=True)
    result = render_bundle(edited, allowed, tmp_path / "allowed", environ={})
    warnings = [n for n in result.rendered.notes if n.startswith("--allow-unverified")]
    assert len(warnings) == len(missing)
    assert all(any(name in w for w in warnings) for name in missing)
    manifest = json.loads((tmp_path / "allowed" / "hybridctl-manifest.json").read_text())
    assert manifest["options"]["allow_unverified"] is True


def test_render_and_deploy_commands_refuse_unverified_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI: exit 2 and the model named; the flag turns it into a warning."""
    from typer.testing import CliRunner

    from hybridctl.catalog.checks import unverified_models
    from hybridctl.cli.app import app

    edited, tier_id = _unverified(tmp_path, monkeypatch)
    (name,) = unverified_models(edited, edited.tier(tier_id))[:1]
    runner = CliRunner()
    out = tmp_path / "bundle"
    refused = runner.invoke(app, ["render", "--tier", tier_id, "--out", str(out)])
    assert refused.exit_code == 2, refused.output
    assert name in refused.output and "--allow-unverified" in refused.output
    allowed = runner.invoke(
        app, ["render", "--tier", tier_id, "--out", str(out), "--allow-unverified"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert name in allowed.output
    # A local deploy refuses before it renders or starts anything.
    deploy = runner.invoke(
        app, ["deploy", "--provider", "local", "--tier", tier_id, "--name", "edge-refused"]
    )
    assert deploy.exit_code == 2, deploy.output
    assert name in deploy.output


def test_a_cloud_deploy_refuses_unverified_models_and_a_plan_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.deploy.pulumi.spec import DeployRequest, resolve

    edited, tier_id = _unverified(tmp_path, monkeypatch)
    key = tmp_path / "admin.pub"
    key.write_text(ADMIN_KEY + "\n")
    request = DeployRequest(
        tier_id=tier_id, provider="hetzner", admin_cidr=ADMIN_CIDR, ssh_public_key_file=key
    )
    with pytest.raises(InputError, match="no sha256"):
        resolve(edited, request, existing=None, offline_plan=False, placeholder_ssh_key=ADMIN_KEY)
    planned = resolve(
        edited, request, existing=None, offline_plan=True, placeholder_ssh_key=ADMIN_KEY
    )
    assert any("a deploy would refuse this" in note for note in planned.notes)


def test_hugging_face_branch_uris_are_told_from_pinned_ones() -> None:
    from hybridctl.catalog.checks import unpinned_branch

    base = "https://huggingface.co/org/repo/resolve"
    assert unpinned_branch(f"{base}/main/model.gguf") == "main"
    assert unpinned_branch(f"{base}/{'0a' * 20}/model.gguf") is None
    assert unpinned_branch("https://example.org/model.gguf") is None


def _caddy(bundle: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the proxy image's caddy on the bundle's Caddyfile; skip when Docker is missing."""
    images = os.environ.get("HYBRIDCTL_TEST_IMAGES")
    if not images or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.skip("needs Docker and the stand-in proxy image (HYBRIDCTL_TEST_IMAGES)")
    image = yaml.safe_load(Path(images).read_text())["proxy"]
    flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
    done = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            *flags,
            "-v",
            f"{bundle / 'proxy'}:/etc/caddy:ro",
            image,
            "caddy",
            *args,
            "--config",
            "/etc/caddy/Caddyfile",
            "--adapter",
            "caddyfile",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config["apps"]["http"]["servers"]["srv0"]["routes"]


@pytest.mark.parametrize(
    "extra",
    [{}, {"nodes": 3}, {"domain": "llm.example.com"}, {"domain": "llm.example.com", "nodes": 3}],
    ids=["internal-ca", "internal-ca-3-nodes", "acme", "acme-3-nodes"],
)
def test_the_rendered_caddyfile_is_valid_caddy(tmp_path: Path, extra: dict[str, Any]) -> None:
    render(tmp_path, "4", **extra)
    env = {"HYBRIDCTL_LB_HOST": "lb.example.net", "PUBLIC_HOST": "198.51.100.4"}
    _caddy(tmp_path, "validate", env=env)
    config = json.loads(_caddy(tmp_path, "adapt", env=env))
    routes = _routes(config)
    # The last route has no host matcher: any name or address reaches the same handlers.
    assert "host" not in routes[-1].get("match", [{}])[0]
    hosts = {h for r in routes for m in r.get("match", []) for h in m.get("host", [])}
    if "domain" in extra:
        assert hosts == {"llm.example.com"}
        # Caddy's automatic HTTPS (ACME) for the name, never its internal CA.
        assert '"module":"internal"' not in json.dumps(config, separators=(",", ":"))
    else:
        expected = {"198.51.100.4", "localhost", "127.0.0.1"}
        assert hosts == expected | ({"lb.example.net"} if extra.get("nodes") else set())
    policies = config["apps"]["http"]["servers"]["srv0"]["tls_connection_policies"]
    default = extra.get("domain") or ("lb.example.net" if extra.get("nodes") else "198.51.100.4")
    assert {p.get("default_sni") for p in policies} == {default}


def test_grafana_answers_the_admin_cidr_only(tmp_path: Path) -> None:
    render(tmp_path, "4")
    caddyfile = (tmp_path / "proxy" / "Caddyfile").read_text()
    assert f"remote_ip {ADMIN_CIDR}" in caddyfile
    text = _caddy(tmp_path, "adapt", env={"PUBLIC_HOST": "198.51.100.4"})
    assert '"/grafana/*"' in text and f'"{ADMIN_CIDR}"' in text
    grafana = _compose(tmp_path)["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_COOKIE_SECURE"] == "true"
    assert grafana["GF_SECURITY_COOKIE_SAMESITE"] == "strict"
    # Without an admin network a cloud box's Grafana is not routed at all.
    render(tmp_path / "closed", "4", admin_cidr=None, ssh_public_key=None)
    assert "/grafana" not in (tmp_path / "closed" / "proxy" / "Caddyfile").read_text()


def test_only_api_and_health_paths_are_routed(tmp_path: Path) -> None:
    render(tmp_path, "1")
    caddyfile = (tmp_path / "proxy" / "Caddyfile").read_text()
    (line,) = [x for x in caddyfile.splitlines() if x.strip().startswith("@api path")]
    paths = set(line.split()[2:])
    assert "/health/liveliness" in paths and "/v1/chat/completions" in paths
    assert "/v1/*" not in paths and "/*" not in paths  # no catch-all prefix
    for closed in ("/health/readiness", "/metrics", "/ui", "/openapi.json", "/key/generate"):
        assert not any(closed == p or closed.startswith(p.rstrip("*")) for p in paths), closed


def test_multi_node_bundles_share_node_zeros_redis(tmp_path: Path) -> None:
    from hybridctl.render.context import SHARED_STORE_BIND

    single = render(tmp_path / "one", "2")
    assert not single.problems
    assert "ports" not in _compose(tmp_path / "one")["services"]["redis"]
    result = render(tmp_path / "three", "2", nodes=3)
    assert not result.problems, result.problems
    services = _compose(tmp_path / "three")["services"]
    (port,) = services["redis"]["ports"]
    # On the node's private address (loopback until deploy writes it), never 0.0.0.0.
    assert port == {"target": 6379, "published": "6379", "host_ip": SHARED_STORE_BIND}
    assert services["gateway"]["environment"]["REDIS_HOST"] == "${HYBRIDCTL_REDIS_HOST:-redis}"
    assert (
        services["proxy"]["environment"]["HYBRIDCTL_LB_HOST"] == "${HYBRIDCTL_LB_HOST:-localhost}"
    )
    # Any other published Redis port is still caught.
    compose = _compose(tmp_path / "three")
    compose["services"]["redis"]["ports"] = [{"target": 6379, "published": "6379"}]
    _write_compose(tmp_path / "three", compose)
    problems = check_bundle(tmp_path / "three", catalog()).problems
    assert any("Redis (redis) publishes port 0.0.0.0:6379->6379" in p for p in problems)


def test_node_env_points_every_node_at_node_zero() -> None:
    from hybridctl.deploy.box.topology import node_env
    from hybridctl.errors import OperationFailed

    assert node_env({"ip": "198.51.100.4", "gateway_url": "https://198.51.100.4"}, 0) == {}
    outputs = {
        "load_balancer_ip": "203.0.113.9",
        "gateway_url": "https://lb-1.elb.example",
        "private_ips": ["10.42.0.10", "10.42.0.11", "10.42.0.12"],
    }
    assert node_env(outputs, 0) == {
        "HYBRIDCTL_LB_HOST": "lb-1.elb.example",
        "HYBRIDCTL_REDIS_BIND": "10.42.0.10",
    }
    assert node_env(outputs, 2) == {
        "HYBRIDCTL_LB_HOST": "lb-1.elb.example",
        "HYBRIDCTL_REDIS_HOST": "10.42.0.10",
    }
    with pytest.raises(OperationFailed, match="private IPs"):
        node_env({**outputs, "private_ips": []}, 1)
