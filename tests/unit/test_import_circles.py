"""No import circle in shipped code (bot, domain, workers), function-level ("lazy") imports included: a module that
needs another's types and is needed by it means one of them holds the wrong thing. Only an `if TYPE_CHECKING:`
import is left out: it never runs (a type annotation's name, not a dependency at import time)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("domain", "bot", "workers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, modules: set[str]) -> set[str]:
    """Every shipped module `source` imports, anywhere in it: `from a.b import c` is a.b.c when that is a module."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif node.module in modules:
                    found.add(node.module)
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except those under `if TYPE_CHECKING:`."""
    skipped = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node.test)
               for stmt in node.body for inner in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    modules = set(sources)
    return {name: imports_of(source, modules) - {name} for name, source in sources.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted: every import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def shipped_sources() -> dict[str, str]:
    return {module_name(path): path.read_text() for package in SHIPPED for path in (ROOT / package).rglob("*.py")}


def test_no_import_circle_in_shipped_code():
    assert circles(graph(shipped_sources())) == []


def test_no_import_circle_in_the_sandbox():
    """`make run`'s supervisor (sandbox/processes.py) is below both run.py and sandbox.py."""
    sources = {**shipped_sources(), **{module_name(path): path.read_text() for path in (ROOT / "sandbox").rglob("*.py")}}

    assert circles(graph(sources)) == []


def test_a_function_level_import_that_closes_a_circle_is_found():
    sources = {
        "workers.scan.expiry": "def scan():\n    from workers.scan.digest import record_digest\n",
        "workers.scan.digest": "from workers.scan.expiry import Findings\n",
        "workers.scan": "",
        "domain.clock": "",
    }

    assert circles(graph(sources)) == [["workers.scan.digest", "workers.scan.expiry"]]


def test_importing_a_module_through_its_package_counts():
    sources = {"domain.requests": "from domain import messages\n", "domain.messages": "import domain.requests\n",
               "domain": ""}

    assert circles(graph(sources)) == [["domain.messages", "domain.requests"]]


def test_an_import_only_for_type_checking_is_not_a_circle():
    sources = {"domain.errors": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from domain.requests import R\n",
               "domain.requests": "from domain.errors import CftokenError\n", "domain": ""}

    assert circles(graph(sources)) == []
