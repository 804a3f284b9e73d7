"""The codebase keeps its shape: small modules, thin commands, layers that import downwards."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from hybridctl.cli.app import REGISTRY

PACKAGE = Path(__file__).resolve().parent.parent / "hybridctl"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 450
MAX_COMMAND_LOGIC_LINES = 30
ROOT_MODULES = {"__init__", "__main__", "errors", "paths", "suggest", "extras"}
# The lower layers and what each may import (besides itself and the root modules); the core
# (render, deploy, remote, ops, gateway, bench_host) may import anything but the commands.
ALLOWED = {
    "bench": set(),  # shipped alone to the box: the standard library and its own modules only
    "testing": set(),
    "providers": set(),
    "catalog": {"providers"},
    "planning": {"catalog", "providers"},
}


def _imports(path: Path) -> set[str]:
    """The hybridctl modules a module imports, at any depth (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hybridctl"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hybridctl"))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _logic_lines(function: ast.FunctionDef, source: str) -> int:
    """Lines of a function body that hold code: no docstring, blank line or comment."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    first, last = body[0].lineno, max(getattr(n, "end_lineno", 0) or 0 for n in body)
    code_lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE):
            continue
        if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if first <= line <= last:
                code_lines.add(line)
    return len(code_lines)


def _command_functions() -> list[tuple[str, Path, ast.FunctionDef, str]]:
    found = []
    for name, lazy in REGISTRY.items():
        assert lazy is not None, f"{name} is registered eagerly"
        module, _, function = lazy.target.partition(":")
        path = PACKAGE.parent / (module.replace(".", "/") + ".py")
        source = path.read_text()
        tree = ast.parse(source)
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        target = next(d for d in defs if d.name == function)
        found.append((name, path, target, source))
        # A command group's sub-commands are the module's other public functions.
        if any("typer" in ast.unparse(d) for d in target.decorator_list):
            found.extend((name, path, d, source) for d in defs if not d.name.startswith("_"))
    return found


def test_no_module_is_longer_than_the_limit() -> None:
    long = {}
    for path in MODULES:
        count = len(path.read_text().splitlines())
        if count > MAX_MODULE_LINES:
            long[str(path.relative_to(PACKAGE))] = count
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_its_job_in_one_line(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring, "no module docstring"
    assert docstring.strip() and "\n" not in docstring.strip().split("\n\n")[0].strip()


def test_commands_are_thin() -> None:
    thick = {
        f"{name} ({function.name} in {path.name})": lines
        for name, path, function, source in _command_functions()
        if (lines := _logic_lines(function, source)) > MAX_COMMAND_LOGIC_LINES
    }
    assert not thick, f"command functions over {MAX_COMMAND_LOGIC_LINES} lines of logic: {thick}"


def test_the_package_root_holds_only_what_every_package_shares() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert not loose, f"loose modules at the package root: {sorted(loose)}"


def test_no_module_is_named_after_a_vague_plan() -> None:
    assert not [p for p in MODULES if p.stem == "plan"]


def test_layers_import_downwards() -> None:
    wrong = []
    for path in MODULES:
        if path.parent == PACKAGE:
            continue  # the root modules: __main__ starts the commands
        package = _package(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for imported in _imports(path):
            target = _package(imported)
            if target in ("", package) or imported.split(".")[1] in ROOT_MODULES:
                continue
            if package == "cli":
                continue
            if target == "cli" or (package in ALLOWED and target not in ALLOWED[package]):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {imported}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))
