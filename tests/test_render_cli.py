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


def _assert_clear_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert text in result.output
    assert "internal error" not in result.output.lower()
    assert "Traceback" not in result.output


def test_render_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    existing = tmp_path / "passwd"
    existing.write_text("root:x:0:0::/root:/bin/sh\n")
    result = _invoke("render", "--tier", "2", "--out", str(existing))
    _assert_clear_error(result, 2, "is an existing file, not a folder")
    assert existing.read_text() == "root:x:0:0::/root:/bin/sh\n"
    below = _invoke("render", "--tier", "2", "--out", str(existing / "bundle"))
    _assert_clear_error(below, 2, "cannot create the bundle folder")


def test_check_of_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    result = _invoke("render", "--check", str(tmp_path / "nonexistent"))
    _assert_clear_error(result, 2, "no such folder")
    (tmp_path / "file").write_text("x")
    _assert_clear_error(_invoke("render", "--check", str(tmp_path / "file")), 2, "is a file")


def test_check_of_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "blob.yml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "data.json").write_bytes(b"\x80\x81")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bin").write_bytes(bytes(range(256)))
    result = _invoke("render", "--check", str(tmp_path))
    _assert_clear_error(result, 2, "is not a hybridctl bundle")


def test_check_reports_undecodable_files_in_a_bundle(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert _invoke("render", "--tier", "2", "--out", str(out)).exit_code == 0
    (out / "extra.yml").write_bytes(b"key: \xff\xfe\n")
    (out / "extra.json").write_bytes(b'{"a": "\x80"}')
    (out / "blob.bin").write_bytes(bytes(range(256)))
    (out / "docker-compose.yml").write_bytes(b"\xff" + (out / "docker-compose.yml").read_bytes())
    result = _invoke("render", "--check", str(out))
    _assert_clear_error(result, 1, "extra.yml is not UTF-8 text")
    assert "extra.json is not UTF-8 text" in result.output
    assert "docker-compose.yml was changed after it was rendered" in result.output


def test_undecodable_env_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert _invoke("render", "--tier", "2", "--out", str(out)).exit_code == 0
    (out / ".env").write_bytes(b"REDIS_PASSWORD=\xff\xfe\n")
    _assert_clear_error(_invoke("render", "--check", str(out)), 1, ".env is not UTF-8 text")
    _assert_clear_error(_invoke("render", "--tier", "2", "--out", str(out)), 2, "not UTF-8")


def test_env_value_compose_would_mangle_is_refused_without_showing_it(tmp_path: Path) -> None:
    value = "sk-live-abc$HOME #rest"
    result = _invoke(
        "render", "--tier", "2", "--out", str(tmp_path / "b"), env={"GROQ_API_KEY": value}
    )
    _assert_clear_error(result, 2, "the value of GROQ_API_KEY contains a '$'")
    assert "sk-live-abc" not in result.output
    assert not (tmp_path / "b" / ".env").exists()  # nothing half-written
