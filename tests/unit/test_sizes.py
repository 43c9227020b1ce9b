"""Small modules with one job: no shipped module over 500 lines, no function over 50 (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("domain", "bot", "workers")
MODULE_LINES = 500
FUNCTION_LINES = 50


def too_long(path: str, source: str) -> list[str]:
    """'path: N lines' for a module over the limit, 'path:line name: N lines' for each function over it."""
    found = []
    lines = len(source.splitlines())
    if lines > MODULE_LINES:
        found.append(f"{path}: {lines} lines")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{path}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_shipped_module_or_function_is_too_long():
    found = [problem for package in SHIPPED for path in sorted((ROOT / package).rglob("*.py"))
             for problem in too_long(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))]

    assert found == []


def test_a_long_function_and_a_long_module_are_named():
    body = "\n".join(f"    x{i} = {i}" for i in range(50))
    source = f"def long():\n{body}\n" + "\n" * 450

    assert too_long("workers/x.py", source) == ["workers/x.py: 501 lines", "workers/x.py:1 long: 51 lines"]
