"""The package structure of docs/architecture.md, checked on the source: the import graph of ``bot``, ``rag`` and
``ingest`` (every import, at module level, inside functions or under ``TYPE_CHECKING``) has no cycle, neither
between modules nor between the packages of ``rag``; the core never imports the pipeline or the front-ends, and
the pipeline never imports the front-ends; no module of ``rag`` is over 300 lines; every package says what it holds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "rag", "ingest")
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that ``name`` (a module, or a module's attribute) refers to, if any."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}" if base else package
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _rag_package(module: str) -> str:
    """``rag.store.store`` -> ``rag.store``; ``rag.service`` -> ``rag.service``."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_modules() -> None:
    assert _cycle(import_graph()) is None, " -> ".join(_cycle(import_graph()) or [])


def test_no_import_cycle_between_core_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        if module.startswith("rag."):
            own = _rag_package(module)
            packages.setdefault(own, set()).update(
                _rag_package(t) for t in targets if t.startswith("rag.") and _rag_package(t) != own
            )
    cycle = _cycle(packages)
    assert cycle is None, " -> ".join(cycle or [])


@pytest.mark.parametrize(("layer", "forbidden"), [("rag", ("ingest", "bot")), ("ingest", ("bot",))])
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items() if module.split(".")[0] == layer
        for target in targets if target.split(".")[0] in forbidden
    )
    assert not wrong


def test_answering_does_not_reach_into_retrieval_store_or_service() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items() if module.startswith("rag.answering")
        for target in targets if _rag_package(target) in ("rag.retrieval", "rag.store", "rag.service")
    )
    assert not wrong


def test_retrieval_does_not_import_the_answerer() -> None:
    """The reranker takes question features from the one question analysis (rag.text.question), so rules of the
    answerer cannot reorder retrieval (issue 33)."""
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items() if module.startswith("rag.retrieval")
        for target in targets if _rag_package(target) == "rag.answering"
    )
    assert not wrong


def test_core_modules_are_at_most_300_lines() -> None:
    long = {
        name: n for name, path in _modules().items() if name.startswith("rag")
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long


def test_every_package_has_a_docstring() -> None:
    missing = [
        name for name, path in _modules().items()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not missing


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
