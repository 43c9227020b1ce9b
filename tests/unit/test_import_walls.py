"""The rooms' walls: which package may import which (README "Layout").

domain   the shared domain: imports none of the others
bot      the Slack edge of the web process: domain only
workers  the worker, the clock and the operator CLI: domain only
standins, sandbox   development tools: anything, but nothing shipped imports them
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("domain", "bot", "workers")
ALLOWED = {
    "domain": {"domain"},
    "bot": {"domain", "bot"},
    "workers": {"domain", "workers"},
}
OURS = {"domain", "bot", "workers", "standins", "sandbox", "bench", "tests"}


def imported_packages(source: str) -> set[str]:
    """Top-level names of every package `source` imports (absolute imports only: the project uses no others)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def crossings(files: dict[str, str]) -> list[str]:
    """Every import in `files` (path → source) that crosses a wall, as 'path imports package'."""
    found = []
    for path, source in sorted(files.items()):
        package = path.split("/")[0]
        allowed = ALLOWED.get(package)
        if allowed is None:
            continue
        for name in sorted(imported_packages(source) & OURS - allowed):
            found.append(f"{path} imports {name}")
    return found


def shipped_sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for package in SHIPPED
        for path in (ROOT / package).rglob("*.py")
    }


def test_no_shipped_module_imports_across_a_wall():
    assert crossings(shipped_sources()) == []


def test_a_domain_module_importing_the_workers_is_a_crossing():
    files = {"domain/health.py": "from workers.clients.cloudflare import CloudflareClient\n"}

    assert crossings(files) == ["domain/health.py imports workers"]


def test_the_edge_and_the_workers_may_not_import_each_other_or_the_tools():
    files = {
        "bot/listeners.py": "import workers.jobs\n",
        "workers/jobs.py": "from bot import listeners\n",
        "workers/clients/slack.py": "from standins.slack import SlackStandIn\n",
        "bot/web.py": "from domain.settings import Settings\nimport sandbox.run\n",
    }

    assert crossings(files) == [
        "bot/listeners.py imports workers",
        "bot/web.py imports sandbox",
        "workers/clients/slack.py imports standins",
        "workers/jobs.py imports bot",
    ]


def test_imports_inside_functions_count_too():
    files = {"domain/messages.py": "def render():\n    from bot.app import build_bolt_app\n"}

    assert crossings(files) == ["domain/messages.py imports bot"]
