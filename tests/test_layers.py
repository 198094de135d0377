"""The package is layered: each layer imports only from the layers below it, and nothing cycles.

Imports are read from the source (every `import` and `from ... import`, at any depth, including
the ones inside functions), so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "carc"

# Bottom to top. A module is in the layer named by its first component under carc/.
LAYERS = ("core", "ir", "lang", "interpreter", "analysis", "backend", "api", "audit", "envs", "verify", "perf",
          "generate", "train", "cli")


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "carc" or len(parts) == 1:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("carc.")}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


GRAPH = _graph()


def test_every_module_is_in_a_layer() -> None:
    unknown = {m for m in GRAPH if m != "carc" and m != "carc.__main__" and _layer_of(m) not in LAYERS}
    assert not unknown, f"modules outside the layers {LAYERS}: {sorted(unknown)}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer_of(m) in LAYERS))
def test_imports_only_go_down(module: str) -> None:
    rank = LAYERS.index(_layer_of(module) or "")
    upward = sorted(m for m in GRAPH[module] if (layer := _layer_of(m)) in LAYERS and LAYERS.index(layer) > rank)
    assert not upward, f"{module} (layer {LAYERS[rank]}) imports from above: {upward}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the graph as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for root in sorted(graph):
        if root in state:
            continue
        path: list[str] = [root]
        iterators = [iter(sorted(graph[root] - {root}))]
        state[root] = 1
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = 2
                iterators.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                iterators.append(iter(sorted(graph[child] - {child})))
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle with them.
    graph = {m: {d for d in deps if not (m.startswith(d + ".") and d in GRAPH)} for m, deps in GRAPH.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


HEAVY = ("gymnasium", "minigrid", "hypothesis", "tqdm", "scipy")
CORE_PATH = ("carc.cli.main", "carc.api", "carc.lang.record", "carc.audit.certificate", "carc.audit.worker",
             "carc.backend.kernel", "carc.analysis.lints", "carc.analysis.cost", "carc.interpreter")


def test_the_core_path_imports_no_extra() -> None:
    """`carc check`, `carc compile` and `carc audit` run on the core install: importing them loads
    none of the extras' packages (numba may import scipy itself when it is installed, so scipy is
    looked for only among modules carc imports directly)."""
    import json
    import subprocess
    import sys

    script = ("import importlib, json, sys\n"
              f"for m in {CORE_PATH!r}: importlib.import_module(m)\n"
              f"print(json.dumps(sorted({{k.split('.')[0] for k in sys.modules}} & set({HEAVY!r}))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    direct = {m.split(".")[0] for module in CORE_PATH for m in _external_imports(module)}
    assert not loaded - {"scipy"}, loaded
    assert not direct & set(HEAVY), direct & set(HEAVY)


def _external_imports(module: str) -> set[str]:
    """Top-level (not lazy) non-carc imports of a carc module and, transitively, of the carc modules it imports at top level."""
    seen: set[str] = set()
    found: set[str] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
        if not path.is_file():
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            stack.extend(m for m in imported if m.startswith("carc."))
            found.update(m for m in imported if m.split(".")[0] != "carc")
    return found
