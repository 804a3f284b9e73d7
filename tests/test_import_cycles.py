"""No import cycles between the modules of the hybridctl package (read from source, not run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "hybridctl"

# Cycles tolerated while one is taken apart, each one strongly connected component exactly (a
# stale entry fails too). There are none.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def module_files(package_dir: Path) -> dict[str, Path]:
    """{dotted module name: source file} for every module of the package under package_dir."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of the tree except the bodies of `if TYPE_CHECKING:` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _known_module(name: str, modules: dict[str, Path]) -> str | None:
    """The package module an import of `name` loads: itself, or else its nearest known parent."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of the module a `from ... import` statement imports from."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _imported_modules(
    node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]
) -> set[str | None]:
    """The package modules one import statement (or import_module("...") call) loads."""
    if isinstance(node, ast.Import):
        return {_known_module(alias.name, modules) for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        base = _from_base(node, module, is_package)
        # `from package import name` loads package.name when name is a submodule.
        return {
            f"{base}.{alias.name}"
            if f"{base}.{alias.name}" in modules
            else _known_module(base, modules)
            for alias in node.names
        }
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return {_known_module(node.args[0].value, modules)}
    return set()


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """{module: the package's other modules it imports, at module level or inside functions}."""
    modules = module_files(package_dir)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
            found = _imported_modules(node, module, is_package, modules)
            targets.update(name for name in found if name is not None)
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                lowlink[node] = min(lowlink[node], lowlink[target])
            elif target in on_stack:
                lowlink[node] = min(lowlink[node], index[target])
        if lowlink[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    members = sorted(component)
    edges = [f"{a} -> {b}" for a in members for b in sorted(graph[a] & component)]
    return "\n  ".join([", ".join(members), *edges])


def test_the_package_has_no_new_import_cycle() -> None:
    graph = import_graph(PACKAGE_DIR)
    assert len(graph) > 20, "the package's modules were not found"
    new = sorted(cycles(graph) - KNOWN_CYCLES, key=sorted)
    assert not new, "import cycles (each: its modules, then its imports):\n" + "\n".join(
        _describe(component, graph) for component in new
    )


def test_every_known_cycle_still_exists() -> None:
    stale = sorted(KNOWN_CYCLES - cycles(import_graph(PACKAGE_DIR)), key=sorted)
    assert not stale, f"fixed or changed; remove from KNOWN_CYCLES: {[sorted(c) for c in stale]}"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def f():\n    from .sub import c\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/c.py": "import importlib\nimportlib.import_module('pkg.d')\n",
            "pkg/d.py": "import pkg.sub.c\nfrom ..outside import x\n",
            "pkg/e.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg import a\nelse:\n    from pkg.sub import c\n"
            ),
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"}
    assert graph["pkg.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.d"}
    assert graph["pkg.d"] == {"pkg.sub.c"}
    assert graph["pkg.e"] == {"pkg.sub.c"}  # the TYPE_CHECKING import never runs
    assert cycles(graph) == {frozenset({"pkg.sub.c", "pkg.d"})}


def test_a_from_import_of_a_name_depends_on_the_module_that_defines_it(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import thing\n",
            "pkg/a.py": "from pkg import other\nthing = 1\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg"}
    assert cycles(graph) == {frozenset({"pkg", "pkg.a"})}
