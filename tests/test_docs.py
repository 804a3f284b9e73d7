"""The README and docs/ follow the CLI: every command documented, every documented command valid."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from hybridctl.cli.app import app
from tests.readme_commands import README, REPO_ROOT, DocCommand, doc_commands, readme_commands

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
README_TEXT = README.read_text(encoding="utf-8")
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# Paths of the machines the figures were measured on, and files outside the repository.
FOREIGN = re.compile(r"/work/|/tmp/|/root/|/home/\w|DESIGN\.md|\.\./shared")


def _generator() -> ModuleType:
    path = REPO_ROOT / "scripts" / "gen_cli_reference.py"
    spec = importlib.util.spec_from_file_location("gen_cli_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_core_commands_exist() -> None:
    assert {"tiers", "models", "validate", "recommend", "cost"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Example: hybridctl {name}" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_readme_example(name: str) -> None:
    assert name in {c.argv[0] for c in readme_commands() if c.argv}, (
        f"README.md has no example of `hybridctl {name}`: add one to 'One example per command'"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_docs_section(name: str) -> None:
    heading = re.compile(rf"^#+ .*`(?:hybridctl )?{re.escape(name)}\b[^`]*`", re.MULTILINE)
    pages = [p.name for p in PAGES if p.name != "reference.md" and heading.search(p.read_text())]
    assert pages, f"no page in docs/ has a section headed `hybridctl {name}` (or `{name}`)"


def _documented() -> list[DocCommand]:
    found = readme_commands()
    for page in PAGES:
        if page.name != "reference.md":
            found += doc_commands(page, prompt_only=True)
    return found


@pytest.mark.parametrize("command", _documented(), ids=lambda c: c.source)
def test_documented_commands_name_real_options(command: DocCommand) -> None:
    """`--help` after the documented arguments: an unknown command or option fails here."""
    result = runner.invoke(app, [*command.argv, "--help"])
    assert result.exit_code == 0, f"{command.source}: `{command}`: {result.output}"


def test_readme_is_one_screenful_per_job() -> None:
    assert len(README_TEXT.splitlines()) <= 250


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_no_machine_paths_or_outside_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if FOREIGN.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_readme_links_resolve() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README_TEXT)
    local = [t for t in targets if "://" not in t]
    assert any(t.startswith("docs/") for t in local)
    missing = [t for t in local if not (REPO_ROOT / t).exists()]
    assert not missing, missing


def test_reference_is_generated_from_the_cli() -> None:
    generated = _generator().render_reference()
    current = (DOCS / "reference.md").read_text(encoding="utf-8")
    assert current == generated, (
        "docs/reference.md is stale: run python scripts/gen_cli_reference.py"
    )
    for name in COMMANDS:
        assert f"## `hybridctl {name}`" in current


def test_reference_check_flag_reports_staleness(tmp_path: Path) -> None:
    module = _generator()
    module.REFERENCE = tmp_path / "reference.md"
    module.REFERENCE.write_text("# stale\n")
    module.REPO_ROOT = tmp_path
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0


def test_nav_lists_only_pages_that_exist() -> None:
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        return []

    listed = pages(config["nav"])
    assert "reference.md" in listed and "index.md" in listed
    assert all((DOCS / page).is_file() for page in listed), listed


def test_docs_build_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "reference" / "index.html").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in README_TEXT
    assert "mkdocs build --strict" in (REPO_ROOT / "scripts" / "test.sh").read_text()
