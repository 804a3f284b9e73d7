"""Fixtures are registered once through pytest_plugins; tests never import a fixture function."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_fixture(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in ("pytest.fixture", "fixture"):
            return True
    return False


def _fixtures(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and _is_fixture(node)
    }


def _registered_plugins() -> list[str]:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return []


def test_every_fixture_module_is_a_registered_plugin() -> None:
    with_fixtures = {
        f"tests.{path.stem}" for path in TESTS.glob("*_fixtures.py") if _fixtures(path)
    }
    assert with_fixtures, "no fixture module found"
    assert with_fixtures <= set(_registered_plugins())


def test_no_test_imports_a_fixture_function() -> None:
    fixtures = {f"tests.{p.stem}": _fixtures(p) for p in TESTS.glob("*_fixtures.py")}
    offenders = []
    for test in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(test.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in fixtures:
                imported = {alias.name for alias in node.names}
                offenders += [f"{test.name}: {name}" for name in imported & fixtures[node.module]]
    assert not offenders, f"import these by fixture name instead: {offenders}"
