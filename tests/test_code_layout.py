"""The codebase keeps its shape: modules that say their job, a root that holds only shared ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hybridctl.cli.app import REGISTRY

PACKAGE = Path(__file__).resolve().parent.parent / "hybridctl"
MODULES = sorted(PACKAGE.rglob("*.py"))
# The layer order of the packages is enforced by tests/test_import_cycles.py.
ROOT_MODULES = {
    "__init__",
    "__main__",
    "errors",
    "paths",
    "suggest",
    "extras",
    "stackfacts",
    "waiting",
}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_its_job_in_one_line(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, "no module docstring"
    assert docstring.strip() and "\n" not in docstring.strip().split("\n\n")[0].strip()


def test_every_command_is_registered_lazily() -> None:
    eager = [name for name, lazy in REGISTRY.items() if lazy is None]
    assert not eager, f"registered eagerly: {eager}"


def test_the_package_root_holds_only_what_every_package_shares() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert not loose, f"loose modules at the package root: {sorted(loose)}"


def test_no_module_is_named_after_a_vague_plan() -> None:
    assert not [p for p in MODULES if p.stem == "plan"]
