"""Every command has help text with an example, and a section in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from hybridctl.cli.app import app

REPO_ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_core_commands_exist() -> None:
    assert {"tiers", "models", "validate", "recommend", "cost"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_an_example(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Example: hybridctl {name}" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_a_readme_section(name: str) -> None:
    assert re.search(rf"^#+ `hybridctl {re.escape(name)}\b[^`]*`", README, re.MULTILINE), name


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in README
