"""The parts of `deploy --provider local` that need no Docker: images files, seeds, ps output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog
from hybridctl.cli.app import app
from hybridctl.deploy.compose.compose import failed, parse_ps
from hybridctl.deploy.compose.local import curl_example, endpoint
from hybridctl.deploy.compose.seed import check_seeds, parse_model_files
from hybridctl.errors import InputError, UsageError
from hybridctl.providers.registry import get_provider
from hybridctl.render import RenderOptions
from hybridctl.render.bundle import render_files
from hybridctl.render.images_file import load_images_file, parse_images
from hybridctl.testing.modelgen import write_tiny_model

runner = CliRunner()
TINY_ID = "tinyllama-1.1b-chat-q4_k_m"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "images.yaml"
    path.write_text(text)
    return path


def test_images_file_maps_services_and_leaves_grafana_out(tmp_path: Path) -> None:
    path = _write(tmp_path, "llm: registry.example.com:5000/llm/server:b1\ngrafana: null\n")
    overrides = load_images_file(path)
    assert overrides == {"llm": "registry.example.com:5000/llm/server:b1", "grafana": None}
    rendered = render_files(load_catalog(), RenderOptions(tier_id="2", images=overrides))
    compose = yaml.safe_load(rendered.files["docker-compose.yml"])
    assert compose["services"]["llm"]["image"] == "registry.example.com:5000/llm/server:b1"
    assert compose["services"]["redis"]["image"] == "redis:7.4.6-alpine"  # pinned default
    assert "grafana" not in compose["services"] and "grafana" not in compose["volumes"]
    assert "prometheus" in compose["services"]
    assert "/grafana" not in rendered.files["proxy/Caddyfile"]
    assert not any(name.startswith("grafana/") for name in rendered.files)


def test_images_file_comes_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "gateway: mirror.local/litellm:v1\n")
    assert load_images_file(None, {"HYBRIDCTL_IMAGES": str(path)}) == {
        "gateway": "mirror.local/litellm:v1"
    }
    assert load_images_file(None, {}) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "llm: a:b\ngatway: x/y:1\n",
            "images.yaml:2: unknown service 'gatway' (did you mean 'gateway'?)",
        ),
        ("redis: null\n", "images.yaml:1: redis: null, but the stack cannot run without redis"),
        (
            "proxy: 'Not An Image'\n",
            "images.yaml:1: proxy: 'Not An Image' is not an image reference",
        ),
        ("proxy: 3\n", "images.yaml:1: proxy: 3 is not an image reference"),
        ("- llm\n", "images.yaml:1: must be a mapping"),
        ("llm: [\n", "images.yaml:2: not valid YAML"),
    ],
)
def test_a_bad_images_file_names_the_line_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_images(text, tmp_path / "images.yaml")
    assert expected in caught.value.message


def test_an_unreadable_images_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the images file"):
        load_images_file(tmp_path / "missing.yaml")
    path = tmp_path / "images.yaml"
    path.write_bytes(b"llm: a\nproxy: \xff\n")
    with pytest.raises(InputError, match=r"images.yaml:2: is not UTF-8"):
        load_images_file(path)


def test_render_local_publishes_on_loopback_and_every_service_is_hardened() -> None:
    options = RenderOptions(tier_id="1", provider="local", publish_address="127.0.0.1")
    compose = yaml.safe_load(render_files(load_catalog(), options).files["docker-compose.yml"])
    assert compose["services"]["proxy"]["ports"] == ["127.0.0.1:80:80", "127.0.0.1:443:443"]
    for name, service in compose["services"].items():
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
    # The gateway serves cloud routes even when the model server or its download fails.
    assert "llm" not in (compose["services"]["gateway"].get("depends_on") or {})
    # tier 1's cheapest offer (Hetzner cx23) has 2 vCPUs: the server gets both cores
    assert compose["services"]["llm"]["deploy"]["resources"]["limits"]["cpus"] == "2"


def test_route_urls_send_cloud_routes_to_another_server() -> None:
    options = RenderOptions(tier_id="1", route_urls={"medium": "http://relay:9000/v1"})
    config = yaml.safe_load(
        render_files(load_catalog(), options).files["router/litellm_config.yaml"]
    )
    medium = [d for d in config["model_list"] if d["model_name"] == "medium"]
    assert [d["litellm_params"]["api_base"] for d in medium] == ["http://relay:9000/v1"]
    with pytest.raises(InputError, match="not a cloud route"):
        render_files(load_catalog(), RenderOptions(tier_id="1", route_urls={"local": "http://x"}))


def test_model_files_are_checked_against_the_catalog(tmp_path: Path) -> None:
    catalog = load_catalog()
    tier = catalog.tier("1")
    model = write_tiny_model(tmp_path / "tiny.gguf")
    files = parse_model_files([f"{TINY_ID}={model}"])
    with pytest.raises(InputError, match="differs from the catalog's"):
        check_seeds(catalog, tier, files, allow_unverified=False)
    [seed] = check_seeds(catalog, tier, files, allow_unverified=True)
    assert seed.model == TINY_ID and not seed.verified and len(seed.sha256) == 64
    with pytest.raises(UsageError, match=r"did you mean 'tinyllama-1\.1b-chat-q4_k_m'"):
        check_seeds(catalog, tier, {"tinyllama-1.1b": model}, allow_unverified=True)
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello")
    with pytest.raises(InputError, match="not a GGUF file"):
        check_seeds(catalog, tier, {TINY_ID: not_gguf}, allow_unverified=True)
    with pytest.raises(InputError, match="not a regular file"):
        check_seeds(catalog, tier, {TINY_ID: Path("/dev/null")}, allow_unverified=True)
    with pytest.raises(UsageError, match="not CATALOG_ID=PATH"):
        parse_model_files(["tiny.gguf"])


def test_compose_ps_output_is_read_in_both_formats() -> None:
    row = {
        "Service": "proxy",
        "State": "running",
        "Health": "healthy",
        "ExitCode": 0,
        "Publishers": [{"URL": "127.0.0.1", "TargetPort": 443, "PublishedPort": 443}],
    }
    dead = {"Service": "models-init", "State": "exited", "Health": "", "ExitCode": 1}
    lines = parse_ps(json.dumps(row) + "\n" + json.dumps(dead) + "\n")
    assert parse_ps(json.dumps([row, dead])) == lines
    assert lines[0].ports == ("127.0.0.1:443->443",) and lines[0].label == "running (healthy)"
    assert [s.service for s in failed(lines, ["models-init"])] == ["models-init"]


def test_the_curl_example_reads_the_key_from_env_and_never_shows_it() -> None:
    text = curl_example(endpoint(8443), Path("/s/ca.crt"), Path("/s/bundle/.env"))
    assert text.startswith("curl --cacert /s/ca.crt https://localhost:8443/v1/chat/completions")
    assert "s/^LITELLM_MASTER_KEY=//p" in text and "/s/bundle/.env" in text


def test_providers_come_from_one_registry_with_did_you_mean() -> None:
    assert get_provider("LOCAL").kind == "local"
    with pytest.raises(UsageError, match="did you mean 'hetzner'"):
        get_provider("hetzer")


def test_deploy_local_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["deploy", "--provider", "locall", "--tier", "1"])
    assert result.exit_code == 2 and "did you mean 'local'" in result.output
    result = runner.invoke(app, ["deploy", "--provider", "local", "--tier", "1", "--plan"])
    assert result.exit_code == 2 and "--plan is for cloud deployments" in result.output
    result = runner.invoke(
        app, ["deploy", "--provider", "local", "--tier", "1", "--model-file", "x"]
    )
    assert result.exit_code == 2 and "not CATALOG_ID=PATH" in result.output
    result = runner.invoke(
        app, ["deploy", "--provider", "hetzner", "--tier", "1", "--model-file", "a=b"]
    )
    assert result.exit_code == 2 and "are for --provider local" in result.output
    result = runner.invoke(
        app, ["deploy", "--provider", "local", "--tier", "1", "--route-url", "medium=ftp://x"]
    )
    assert result.exit_code == 2 and "is not ROUTE=URL" in result.output


def _render_local(bundle: Path, tier: str) -> None:
    from hybridctl.render import render_bundle

    options = RenderOptions(
        tier_id=tier, provider="local", publish_address="127.0.0.1", allow_unverified=True
    )
    assert not render_bundle(load_catalog(), options, bundle, force=True).problems


def test_a_rerender_to_another_tier_names_the_services_whose_mounted_files_changed(
    tmp_path: Path,
) -> None:
    from hybridctl.deploy.compose.localfit import changed_mounts, file_hashes

    bundle = tmp_path / "bundle"
    _render_local(bundle, "2")
    before = file_hashes(bundle)
    assert "llm/models.ini" in before
    _render_local(bundle, "2")
    assert changed_mounts(bundle, before) == {}  # the same render: nothing to recreate
    llm_before = yaml.safe_load((bundle / "docker-compose.yml").read_text())["services"]["llm"]
    _render_local(bundle, "3")
    llm_after = yaml.safe_load((bundle / "docker-compose.yml").read_text())["services"]["llm"]
    # The server's command line is the same for both tiers: only the mounted file tells them
    # apart, and compose does not look at it.
    assert llm_before["command"] == llm_after["command"]
    stale = changed_mounts(bundle, before)
    assert stale["llm"] == ["llm/models.ini"]
    assert "router/litellm_config.yaml" in stale["gateway"]
    assert "proxy" not in stale  # its Caddyfile is the same for both tiers
    assert changed_mounts(bundle, {}) == {}  # a first deploy has nothing running to recreate


def test_a_local_box_sizes_the_model_servers_cpu_limit_for_this_machine(tmp_path: Path) -> None:
    from hybridctl.catalog.resources import server_cores
    from hybridctl.render import render_bundle

    bundle = tmp_path / "bundle"
    _render_local(bundle, "3")
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    assert compose["services"]["llm"]["deploy"]["resources"]["limits"]["cpus"] == "3"
    options = RenderOptions(
        tier_id="3", provider="local", publish_address="127.0.0.1", allow_unverified=True,
        host_cpus=2,
    )  # fmt: skip
    assert not render_bundle(load_catalog(), options, bundle, force=True).problems
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    limit = compose["services"]["llm"]["deploy"]["resources"]["limits"]["cpus"]
    assert float(limit) == server_cores(2) <= 2  # Docker refuses a limit above the host's
    wide = options.model_copy(update={"host_cpus": 64})
    assert not render_bundle(load_catalog(), wide, bundle, force=True).problems
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    assert compose["services"]["llm"]["deploy"]["resources"]["limits"]["cpus"] == "3"


def _fake_box(monkeypatch: pytest.MonkeyPatch, up_script: str) -> None:
    """A box whose old containers still serve; `compose up` is a real process running
    up_script."""
    import subprocess

    from hybridctl.deploy.box import serving
    from hybridctl.deploy.compose import compose, local
    from hybridctl.deploy.compose.compose import ServiceState

    def render(self: object, catalog: object, request: object, name: str) -> Path:
        bundle = local.deployments.deployment_dir(name) / local.BUNDLE_DIR
        bundle.mkdir(parents=True, exist_ok=True)
        return bundle

    def start(self: object, *args: str, log: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sh", "-c", up_script], stdout=log, stderr=subprocess.STDOUT)

    def copy_out(self: object, source: str, dest: Path) -> bool:
        dest.write_text("-----BEGIN CERTIFICATE-----\n")
        return True

    running = {
        name: ServiceState(name, "running", health, 0, ())
        for name, health in (("proxy", ""), ("gateway", "healthy"), ("llm", "healthy"))
    }
    monkeypatch.setattr(local, "check_engine", lambda: None)
    monkeypatch.setattr(local.LocalDeployer, "_render", render)
    monkeypatch.setattr(local.LocalDeployer, "_check_images", lambda self, catalog, request: None)
    monkeypatch.setattr(compose.ComposeProject, "logs", lambda self, service, lines=30: "")
    monkeypatch.setattr(local.LocalDeployer, "_seed", lambda self, project, seeds: None)
    monkeypatch.setattr(compose.ComposeProject, "start", start)
    monkeypatch.setattr(compose.ComposeProject, "states", lambda self: running)
    monkeypatch.setattr(compose.ComposeProject, "copy_out", copy_out)
    monkeypatch.setattr(serving, "https_ok", lambda url, ca_file, timeout=5.0: True)


def test_a_failed_compose_up_fails_the_deploy_even_while_the_old_box_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    from hybridctl.catalog import deployments
    from hybridctl.deploy.compose.local import LocalDeployer, LocalRequest
    from hybridctl.errors import CheckFailed

    words = "Error response from daemon: Range of CPUs is from 0.01 to 2.00"
    _fake_box(monkeypatch, f"sleep 0.2; echo '{words}'; exit 1")
    deployer = LocalDeployer(Console(width=200), confirm=lambda q: False)
    request = LocalRequest(tier_id="1", name="mn-upfail", timeout_s=30)
    with pytest.raises(CheckFailed) as caught:
        deployer.deploy(load_catalog(), request)
    assert caught.value.exit_code == 1
    assert "docker compose up failed (exit 1)" in caught.value.message
    assert words in caught.value.message
    assert deployments.load_record("mn-upfail").status == "failed"
    # The same box with an `up` that succeeds is deployed: the failure above is up's own.
    _fake_box(monkeypatch, "sleep 0.2; exit 0")
    assert deployer.deploy(load_catalog(), request).status == "deployed"
