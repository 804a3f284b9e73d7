"""Rendering every tier: valid bundles, same bytes each time, safe rewrites, clear errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hybridctl.errors import InputError
from hybridctl.paths import templates_dir
from hybridctl.render import check_bundle, render_files
from hybridctl.render.context import build_context
from hybridctl.render.engine import make_environment, render_template
from hybridctl.render.envfile import read_env
from tests.render_fixtures import bundle_texts, catalog, options, render, tier_ids


@pytest.mark.parametrize("ollama", [False, True], ids=["llama.cpp", "ollama"])
@pytest.mark.parametrize("tier_id", tier_ids())
def test_every_tier_renders_and_passes_check(tmp_path: Path, tier_id: str, ollama: bool) -> None:
    result = render(tmp_path, tier_id, ollama=ollama, allow_unverified=True)
    assert result.problems == []
    report = check_bundle(tmp_path, catalog())
    assert report.ok, report.problems
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"llm", "gateway", "proxy", "models-init", "models-warm"} <= set(services)
    tier = catalog().tier(tier_id)
    assert ("grafana" in services) == ("grafana" in tier.services)
    assert ("redis" in services) == ("redis" in tier.services)
    # The router's files are rendered into router/ and mounted where the gateway reads them.
    assert (tmp_path / "router" / "litellm_config.yaml").is_file()
    assert "./router:/app/router:ro" in services["gateway"]["volumes"]
    assert services["gateway"]["command"][:2] == ["--config", "/app/router/litellm_config.yaml"]
    assert report.memory_budget_mib is not None
    assert sum(report.memory_mib.values()) <= report.memory_budget_mib


def test_model_server_matches_the_tier(tmp_path: Path) -> None:
    render(tmp_path / "cpu", "2")
    render(tmp_path / "gpu", "4")
    cpu = yaml.safe_load((tmp_path / "cpu" / "docker-compose.yml").read_text())["services"]["llm"]
    gpu = yaml.safe_load((tmp_path / "gpu" / "docker-compose.yml").read_text())["services"]["llm"]
    assert cpu["image"].startswith("ghcr.io/ggml-org/llama.cpp:server-b")
    assert gpu["image"].startswith("ghcr.io/ggml-org/llama.cpp:server-cuda-b")
    assert "reservations" not in cpu["deploy"]["resources"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    # One router-mode server: every model of the tier is a preset section loaded at start.
    presets = (tmp_path / "cpu" / "llm" / "models.ini").read_text()
    for entry in catalog().tier("2").models:
        assert f"[{entry.model}]" in presets
    assert presets.count("load-on-startup = true") == len(catalog().tier("2").models)


def test_model_memory_limit_comes_from_the_sizing(tmp_path: Path) -> None:
    from hybridctl.catalog.sizing import tier_memory_budget

    tier = catalog().tier("3")
    budget = tier_memory_budget(catalog(), tier)
    result = render(tmp_path, "3")
    assert result.rendered.context.memory_mib["llm"] >= budget.models_total_mib
    assert result.rendered.context.memory_mib["llm"] < budget.models_total_mib + 1
    for name, mib in budget.services_mib.items():
        assert result.rendered.context.memory_mib[name] == mib


def test_download_script_has_every_model_with_its_checksum(tmp_path: Path) -> None:
    render(tmp_path, "3")
    script = (tmp_path / "models" / "fetch-models.sh").read_text()
    for entry in catalog().tier("3").models:
        model = catalog().models[entry.model]
        assert model.uri in script
        if model.sha256:
            assert model.sha256 in script
    assert "curl -fsSL" in script and "-C -" in script


def test_rendered_shell_scripts_parse(tmp_path: Path) -> None:
    render(tmp_path, "2", ollama=True)
    scripts = sorted((tmp_path / "models").glob("*.sh"))
    assert len(scripts) == 3
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, (script.name, result.stderr)


def test_rendering_is_deterministic(tmp_path: Path) -> None:
    first = render(tmp_path / "a", "2.5", allow_unverified=True)
    second = render(tmp_path / "b", "2.5", allow_unverified=True)
    assert bundle_texts(tmp_path / "a") == bundle_texts(tmp_path / "b")
    assert first.rendered.files == second.rendered.files
    # Only .env differs: its secrets are generated per bundle.
    assert read_env(tmp_path / "a" / ".env") != read_env(tmp_path / "b" / ".env")


def test_re_render_is_idempotent_and_keeps_secrets(tmp_path: Path) -> None:
    first = render(tmp_path, "2")
    env_before = (tmp_path / ".env").read_bytes()
    files_before = bundle_texts(tmp_path)
    second = render(tmp_path, "2")
    assert second.report.written == []
    assert sorted(second.report.unchanged) == sorted(first.report.written)
    assert second.env.generated == []
    assert (tmp_path / ".env").read_bytes() == env_before
    assert bundle_texts(tmp_path) == files_before


def test_api_keys_from_the_environment_go_to_env(tmp_path: Path) -> None:
    result = render(tmp_path, "2", environ={"GROQ_API_KEY": "gsk_from_environment_123"})
    assert result.env.from_environment == ["GROQ_API_KEY"]
    assert read_env(tmp_path / ".env")["GROQ_API_KEY"] == "gsk_from_environment_123"
    master = read_env(tmp_path / ".env")["LITELLM_MASTER_KEY"]
    assert master.startswith("sk-") and len(master) > 40


def test_refuses_to_overwrite_a_changed_file(tmp_path: Path) -> None:
    render(tmp_path, "2")
    compose = tmp_path / "docker-compose.yml"
    edited = compose.read_text() + "# my edit\n"
    compose.write_text(edited)
    with pytest.raises(InputError) as caught:
        render(tmp_path, "2")
    assert "docker-compose.yml" in caught.value.message
    assert "--force" in (caught.value.hint or "")
    assert compose.read_text() == edited  # nothing was written
    render(tmp_path, "2", force=True)
    assert compose.read_text() != edited
    assert check_bundle(tmp_path, catalog()).ok


def test_changed_options_need_force_and_remove_stale_files(tmp_path: Path) -> None:
    render(tmp_path, "2")
    with pytest.raises(InputError):
        render(tmp_path, "1")  # different compose, and grafana/prometheus files go away
    result = render(tmp_path, "1", force=True)
    assert "prometheus/prometheus.yml" in result.report.removed
    assert not (tmp_path / "prometheus" / "prometheus.yml").exists()
    assert check_bundle(tmp_path, catalog()).ok


def test_missing_template_variable_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(templates_dir(), root)
    caddyfile = root / "proxy" / "Caddyfile.j2"
    caddyfile.write_text(caddyfile.read_text() + "\n# {{ acme_email }}\n")
    with pytest.raises(InputError) as caught:
        render_files(catalog(), options("2"), templates=root)
    message = caught.value.message
    assert "proxy/Caddyfile.j2" in message
    assert "'acme_email' is undefined" in message


def test_missing_attribute_in_an_included_value_names_the_template(tmp_path: Path) -> None:
    (tmp_path / "broken.j2").write_text("line one\n{{ models[0].no_such_field }}\n")
    ctx = build_context(catalog(), catalog().tier("1"), options("1"))
    with pytest.raises(InputError) as caught:
        render_template(make_environment(tmp_path), "broken.j2", ctx)
    assert "broken.j2 line 2" in caught.value.message
    assert "no_such_field" in caught.value.message


def test_unknown_tier_suggests_a_close_one(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        render(tmp_path, "25")
    assert "2.5" in str(caught.value)


def test_bitnet_runtime_renders_its_server_build(tmp_path: Path) -> None:
    # No shipped tier runs bitnet.cpp today (2.5 serves TQ2_0 with llama.cpp); prove the path
    # with a catalog whose ternary tier serves the i2_s model that only bitnet.cpp runs.
    base = catalog()
    tier = base.tier("2.5")
    bitnet_model = next(name for name, m in base.models.items() if m.runtimes == ["bitnet.cpp"])
    entry = tier.models[0].model_copy(update={"model": bitnet_model})
    patched_tier = tier.model_copy(update={"runtime": "bitnet.cpp", "models": [entry]})
    patched = base.model_copy(
        update={"tiers": [patched_tier if t.id == "2.5" else t for t in base.tiers]}
    )
    rendered = render_files(patched, options("2.5"))
    assert rendered.context.server == "bitnet.cpp"
    dockerfile = rendered.files["bitnet/Dockerfile"]
    assert "microsoft/BitNet" in dockerfile and "llama-server" in dockerfile
    compose = yaml.safe_load(rendered.files["docker-compose.yml"])
    assert compose["services"]["llm"]["build"] == {"context": "./bitnet"}
    assert f"/models/{rendered.context.models[0].filename}" in compose["services"]["llm"]["command"]
    # A llama.cpp tier cannot serve a bitnet-only model: refused, not silently broken.
    wrong = base.model_copy(
        update={
            "tiers": [
                tier.model_copy(update={"models": [entry]}) if t.id == "2.5" else t
                for t in base.tiers
            ]
        }
    )
    with pytest.raises(InputError, match="do not run on it"):
        render_files(wrong, options("2.5"))
