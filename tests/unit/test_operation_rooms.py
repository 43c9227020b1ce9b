"""Each operation is one module, and operations meet only in the runner (the machine's map) and the shared minting
code: a module that imports another operation's module means the two grew together."""

from __future__ import annotations

from tests.unit.test_import_circles import ROOT, graph, module_name

OPERATIONS = ("roll", "overlap", "revoke", "provision")
ROOM = ROOT / "workers" / "operations"


def operation_imports(sources: dict[str, str]) -> list[str]:
    """'a imports b' for every operation module that imports another operation module."""
    names = {f"workers.operations.{name}" for name in OPERATIONS}
    edges = graph(sources)
    return sorted(f"{module} imports {target}" for module in sorted(names & set(edges))
                  for target in sorted(edges[module] & names))


def room_sources() -> dict[str, str]:
    return {module_name(path): path.read_text() for path in ROOM.glob("*.py")}


def test_every_operation_has_its_module():
    assert all((ROOM / f"{name}.py").exists() for name in OPERATIONS)


def test_no_operation_module_imports_another():
    assert operation_imports(room_sources()) == []


def test_a_revoke_that_reads_the_roll_tables_itself_is_caught():
    sources = {
        "workers.operations.revoke": "from workers.operations import roll\nfrom workers.operations.machine import Step\n",
        "workers.operations.roll": "from workers.operations.minting import create\n",
        "workers.operations.machine": "",
        "workers.operations.minting": "",
        "workers.operations.runner": "from workers.operations import revoke, roll\n",
        "workers.operations": "",
    }

    assert operation_imports(sources) == ["workers.operations.revoke imports workers.operations.roll"]



def test_workers_keeps_at_most_ten_modules_beside_its_rooms():
    """The process plumbing stays a handful of files; a concept that grows gets a room (a package) instead."""
    top = sorted(path.name for path in (ROOT / "workers").glob("*.py") if path.name != "__init__.py")

    assert len(top) <= 10, top
