"""The wheel carries its data; a command whose extra is missing names it and exits 2."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hybridctl.cli.app import app, guarded
from hybridctl.extras import EXTRAS, from_import_error, install_command, missing_module

REPO_ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_wheel_ships_catalog_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("hybridctl-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "hybridctl/data/tiers.yaml" in names
    assert any(n.startswith("hybridctl/data/templates/") for n in names)
    assert not any(n.endswith(".gguf") for n in names)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);\n"
        "from hybridctl.paths import default_catalog_path, templates_dir\n"
        "from hybridctl.catalog import load_catalog\n"
        "assert str(default_catalog_path()).startswith(sys.argv[1]), default_catalog_path()\n"
        "assert templates_dir().is_dir() and str(templates_dir()).startswith(sys.argv[1])\n"
        "print(len(load_catalog().tiers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    from hybridctl.catalog import load_catalog

    assert done.stdout.strip() == str(len(load_catalog(REPO_ROOT / "tiers.yaml").tiers))


def _block(monkeypatch: pytest.MonkeyPatch, *roots: str) -> None:
    """Make `roots` (and their submodules) unimportable, as in an install without their extra."""
    for name in list(sys.modules):
        if name.split(".", 1)[0] in roots:
            monkeypatch.setitem(sys.modules, name, None)
    for root in roots:
        monkeypatch.setitem(sys.modules, root, None)


def test_plan_without_pulumi_names_the_deploy_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _block(monkeypatch, "pulumi", "pulumi_hcloud", "pulumi_aws", "pulumi_gcp")
    result = runner.invoke(app, ["deploy", "--tier", "1", "--provider", "hetzner", "--plan"])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "[deploy] extra" in result.output
    assert install_command("deploy") in " ".join(result.output.split())


def test_real_deploy_without_pulumi_says_so_before_the_cli(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The missing packages come before the missing Pulumi CLI: both are needed."""
    _block(monkeypatch, "pulumi", "pulumi_hcloud", "pulumi_aws", "pulumi_gcp")
    monkeypatch.setenv("HCLOUD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("PATH", "/nonexistent")  # no pulumi CLI either
    key = Path(os.environ["HOME"]) / "admin.pub"
    key.write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm2fQzF1d+Zq3lQ2Yb0N8Q3ExampleKeyOnlyX x\n"
    )
    argv = ["deploy", "--tier", "1", "--provider", "hetzner", "--admin-cidr", "203.0.113.7/32"]
    result = runner.invoke(app, [*argv, "--ssh-public-key", str(key), "--yes"])
    assert result.exit_code == 2, result.output
    assert "[deploy] extra" in result.output, result.output
    assert "Pulumi CLI" not in result.output


def test_local_bench_without_llama_cpp_names_the_bench_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hybridctl.testing.modelgen import write_tiny_model

    model = write_tiny_model(tmp_path / "tiny.gguf")
    _block(monkeypatch, "llama_cpp")
    result = runner.invoke(app, ["bench", "--model", str(model), "--repetitions", "1"])
    assert result.exit_code == 2, result.output  # not 1 ("falls short")
    assert "[bench] extra" in result.output and "falls short" not in result.output
    assert install_command("bench") in " ".join(result.output.split())


def test_a_missing_module_of_no_extra_is_still_a_bug(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> None:
        import hybridctl_no_such_module  # type: ignore[import-not-found]  # noqa: F401

    with pytest.raises(typer.Exit) as exit_info:
        guarded(broken)()
    assert exit_info.value.exit_code == 1
    assert "internal error" in capsys.readouterr().err


def test_install_command_is_this_interpreters_pip() -> None:
    words = shlex.split(install_command("bench"))
    assert words == [sys.executable, "-m", "pip", "install", "hybridctl[bench]"]
    assert missing_module("deploy") is None  # the test environment has every extra
    assert from_import_error(ModuleNotFoundError("x", name="pulumi.automation")) is not None
    assert from_import_error(ModuleNotFoundError("x", name="yaml")) is None


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extras_map_matches_pyproject(extra: str) -> None:
    """extras.py knows every module each extra of pyproject.toml installs, and only those."""
    import importlib.metadata
    import re
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["optional-dependencies"][extra]
    }
    installed = {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if any(d.lower().replace("_", "-") in wanted for d in dists) and not module.startswith("_")
    }
    assert installed == set(EXTRAS[extra].modules)
