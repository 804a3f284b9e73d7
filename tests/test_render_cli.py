"""`hybridctl render` through the real CLI: exit codes, output, --check, and no secret printed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from hybridctl.cli.app import app
from hybridctl.render.envfile import read_env
from tests.render_fixtures import ADMIN_CIDR, ADMIN_KEY, SECRET_ENV

runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def test_render_writes_a_checked_bundle_and_prints_no_secret(tmp_path: Path) -> None:
    key = tmp_path / "id.pub"
    key.write_text(ADMIN_KEY + "\n")
    out = tmp_path / "bundle"
    result = _invoke(
        "render",
        "--tier",
        "2",
        "--out",
        str(out),
        "--admin-cidr",
        ADMIN_CIDR,
        "--ssh-public-key",
        str(key),
        env=SECRET_ENV,
    )
    assert result.exit_code == 0, result.output
    assert "Rendered tier 2" in result.output
    assert "Check: ok" in result.output
    assert "LITELLM_MASTER_KEY" in result.output  # named as generated ...
    for value in read_env(out / ".env").values():
        assert value not in result.output  # ... never shown
    assert "OPENAI_API_KEY" in result.output  # taken from the environment
    assert (out / "cloud-init.yaml").is_file()

    check = _invoke("render", "--check", str(out))
    assert check.exit_code == 0, check.output
    assert "ok (tier 2" in check.output


def test_render_json_and_rerender(tmp_path: Path) -> None:
    out = tmp_path / "b"
    first = _invoke("render", "--tier", "1", "--out", str(out), "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert data["tier"] == "1" and data["problems"] == []
    assert data["memory_total_mib"] <= data["memory_budget_mib"]
    assert "cloud-init.yaml not written" in " ".join(data["notes"])
    second = json.loads(_invoke("render", "--tier", "1", "--out", str(out), "--json").output)
    assert second["written"] == [] and second["env"]["generated"] == []


def test_check_fails_on_a_tampered_bundle(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert _invoke("render", "--tier", "2", "--out", str(out)).exit_code == 0
    compose_path = out / "docker-compose.yml"
    compose = yaml.safe_load(compose_path.read_text())
    compose["services"]["redis"]["ports"] = ["0.0.0.0:6379:6379"]
    compose_path.write_text(yaml.safe_dump(compose))
    result = _invoke("render", "--check", str(out))
    assert result.exit_code == 1
    assert "Redis (redis) publishes port 0.0.0.0:6379->6379" in result.output
    refused = _invoke("render", "--tier", "2", "--out", str(out))
    assert refused.exit_code == 2
    assert "--force" in refused.output
    forced = _invoke("render", "--tier", "2", "--out", str(out), "--force")
    assert forced.exit_code == 0
    assert _invoke("render", "--check", str(out)).exit_code == 0


def test_bad_usage_is_exit_2_without_traceback(tmp_path: Path) -> None:
    for args, expected in [
        (["render"], "--tier is required"),
        (["render", "--tier", "9"], "tier"),
        (["render", "--tier", "1", "--provider", "digitalocean"], "unknown provider"),
        (["render", "--tier", "1", "--admin-cidr", ADMIN_CIDR], "both --admin-cidr"),
        (["render", "--tier", "1", "--domain", "not a domain"], "not a DNS name"),
    ]:
        result = _invoke(*args, "--out", str(tmp_path / "x"))
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output
        assert "Traceback" not in result.output


def test_help_has_an_example() -> None:
    result = _invoke("render", "--help")
    assert result.exit_code == 0
    assert "Example: hybridctl render --tier 2 --out ./bundle" in result.output
