"""The package's layout holds: no import cycles, and only the command-line layer imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sparkner"
CLI = "sparkner.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sparkner_imports(path: Path, modules: set[str]) -> set[str]:
    """Every sparkner module `path` imports, at its top or inside a function (a lazy import is
    still a dependency). `from pkg import name` counts `pkg.name` when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sparkner"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sparkner"))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    names = set(paths)
    # The package root is the public facade (lazy names, `__version__`): it may import anything,
    # and what imports it only reads a name of it, so it is no layer of the graph.
    return {
        name: {target for target in sparkner_imports(path, names) if target not in (name, "sparkner")}
        for name, path in paths.items()
        if name != "sparkner"
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_command_line_layer_imports_it():
    # `python -m sparkner.jobs` / `python -m sparkner.serve` are command lines too.
    outside = {
        name: sorted(t for t in targets if t == CLI or t.startswith(CLI + "."))
        for name, targets in import_graph().items()
        if not (name == CLI or name.startswith(CLI + ".") or name.endswith(".__main__"))
    }
    offenders = {name: targets for name, targets in outside.items() if targets}
    assert not offenders, f"modules outside {CLI} import it: {offenders}"


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_finder_itself(graph, cycle):
    assert find_cycle(graph) == cycle
