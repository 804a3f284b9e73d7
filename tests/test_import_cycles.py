"""The package's imports, read from source: packages import only lower layers, no module cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "hybridctl"

# Cycles tolerated while one is taken apart, each one strongly connected component exactly (a
# stale entry fails too). There are none.
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()

# The packages from the bottom up. A package imports only packages on lower levels; the
# packages of one level do not import each other. `testing` (test model files) imports nothing.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"bench", "testing"}),
    frozenset({"remote", "providers"}),
    frozenset({"catalog"}),
    frozenset({"planning", "gateway"}),
    frozenset({"render"}),
    frozenset({"deploy"}),
    frozenset({"ops", "bench_host"}),
    frozenset({"cli"}),
)
# Modules at the package root, usable by every package; they import no package themselves.
ROOT_MODULES = frozenset(
    {"hybridctl", "errors", "paths", "suggest", "extras", "stackfacts", "waiting"}
)
ENTRY_POINT = "__main__"  # starts the commands: the one root module above every package


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


def package_of(module: str) -> str:
    """The package (or root module) a module belongs to: its second dotted part, else the root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_imports(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """{(package, imported package): the module imports behind it}, packages importing others."""
    found: dict[tuple[str, str], list[str]] = {}
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            edge = (package_of(module), package_of(target))
            if edge[0] != edge[1]:
                found.setdefault(edge, []).append(f"{module} -> {target}")
    return found


def layer_violations(
    graph: dict[str, set[str]], layers: tuple[frozenset[str], ...] = LAYERS
) -> list[str]:
    """Each package import that does not point to a lower layer, with the modules behind it."""
    level = {package: n for n, level_packages in enumerate(layers) for package in level_packages}
    wrong = []
    for (importer, imported), via in sorted(package_imports(graph).items()):
        if imported in ROOT_MODULES or importer == ENTRY_POINT:
            continue
        if importer in ROOT_MODULES or imported == ENTRY_POINT:
            allowed = False  # the root modules stay below every package
        else:
            allowed = level[imported] < level[importer]
        if not allowed:
            wrong.append(f"{importer} -> {imported} ({'; '.join(via[:3])})")
    return wrong


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


def test_every_package_has_a_layer() -> None:
    packages = {path.parent.name for path in PACKAGE_DIR.glob("*/__init__.py") if path.parent.name}
    layered = set().union(*LAYERS)
    assert packages == layered, (
        f"place in LAYERS: {sorted(packages - layered)}; gone: {sorted(layered - packages)}"
    )


def test_packages_import_only_lower_layers() -> None:
    wrong = layer_violations(import_graph(PACKAGE_DIR))
    assert not wrong, "package imports against the layer order:\n" + "\n".join(wrong)


def test_the_layer_check_sees_each_kind_of_wrong_import() -> None:
    graph = {
        "hybridctl.cli.app": {"hybridctl.ops.keys", "hybridctl.errors"},
        "hybridctl.ops.keys": {"hybridctl.deploy.runner", "hybridctl.bench_host.target"},
        "hybridctl.deploy.runner": {"hybridctl.ops.check", "hybridctl.catalog.deployments"},
        "hybridctl.gateway.policy": {"hybridctl.gateway.hook.need", "hybridctl.planning.cost"},
        "hybridctl.errors": {"hybridctl.catalog"},
        "hybridctl.__main__": {"hybridctl.cli"},
    }
    assert layer_violations(graph) == [
        "deploy -> ops (hybridctl.deploy.runner -> hybridctl.ops.check)",
        "errors -> catalog (hybridctl.errors -> hybridctl.catalog)",
        "gateway -> planning (hybridctl.gateway.policy -> hybridctl.planning.cost)",
        "ops -> bench_host (hybridctl.ops.keys -> hybridctl.bench_host.target)",
    ]


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


# What the gateway's hook may import: it is copied into the bundle as it is and runs in LiteLLM's
# image, where the packages LiteLLM ships with are all there is.
HOOK_DIR = PACKAGE_DIR / "gateway" / "hook"
HOOK_THIRD_PARTY = frozenset({"litellm", "fastapi", "redis", "prometheus_client"})


def test_the_hook_package_stands_alone() -> None:
    import sys

    allowed = set(sys.stdlib_module_names) | HOOK_THIRD_PARTY
    wrong = []
    for path in sorted(HOOK_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.level != 1:
                    wrong.append(f"{path.name}: from {'.' * node.level}{node.module or ''}")
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            wrong += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed]
    assert not wrong, "the hook imports outside the standard library and litellm:\n" + "\n".join(
        wrong
    )
    assert not any(HOOK_DIR.glob("*/")), "the bundle copies the hook's files, not subfolders"
