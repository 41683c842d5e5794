"""The package's import graph: no cycle between modules, deferred imports included; no private imports.

Every ``import`` of a freight module counts, at module level or inside a function (a
function-level import that closes a loop only hides the cycle until the function runs);
only imports under ``if TYPE_CHECKING:`` are left out, since they never execute.
"""

from __future__ import annotations

import ast
from pathlib import Path

import freight

PACKAGE = Path(freight.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an ``if TYPE_CHECKING:`` block."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return inside


def imports(name: str) -> list[tuple[str, list[str], int]]:
    """``(module, imported names, line)`` of every executed freight import of module ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("freight")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("freight"):
                found.append((base, [a.name for a in node.names], node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the freight modules it imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for base, names, _ in imports(name):
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            targets.update(subs or ([base] if base in MODULES else []))
        edges[name] = targets - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    """No set of modules imports each other in a loop, even through function-level imports."""
    edges = graph()
    loops = cycles(edges)
    detail = ["; ".join(f"{m} -> {', '.join(sorted(edges[m] & set(loop)))}" for m in loop) for loop in loops]
    assert not loops, "import cycles:\n" + "\n".join(detail)


def test_the_walker_sees_function_level_imports() -> None:
    """The check itself: a deferred import is an edge (else a cycle could hide behind it)."""
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert "freight.queue.job" in graph()["freight.queue.payload"]  # resolve_job_class needs Job


def test_no_module_imports_another_modules_private_names() -> None:
    """``from freight.x import _name`` never appears: privates stay in their module."""
    offenders = [
        f"{name}:{line} imports {', '.join(n for n in names if n.startswith('_'))} from {base}"
        for name in MODULES
        for base, names, line in imports(name)
        if any(n.startswith("_") and not n.startswith("__") for n in names)
    ]
    assert not offenders, "\n".join(offenders)
