"""The README's layout names every room of the tree, one line each, and nothing that is not there; the README stays
a ten-minute read (at most 3,000 words; the long explanations live in docs/*.md)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("domain", "bot", "workers", "standins", "sandbox", "tests", "bench", "docs")
MAX_WORDS = 3000


def layout_rooms(readme: str) -> list[str]:
    """The room each line of the README's Layout block starts with (`workers/operations/` → workers/operations)."""
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [match.group(1).rstrip("/") for line in block.splitlines() if (match := re.match(r"^(\S+/)\s", line))]


def tree_rooms() -> list[str]:
    """The top-level folders, and every package inside workers/ (a room of its own)."""
    rooms = [name for name in TOP if (ROOT / name).is_dir()]
    rooms += [f"workers/{path.parent.name}" for path in sorted((ROOT / "workers").glob("*/__init__.py"))]
    return rooms


def test_the_layout_has_one_line_per_room_of_the_tree():
    listed = layout_rooms((ROOT / "README.md").read_text(encoding="utf-8"))

    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(tree_rooms())


def test_the_readme_is_short_and_links_docs_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert len(readme.split()) <= MAX_WORDS
    linked = set(re.findall(r"docs/[a-z-]+\.md", readme))
    assert linked and all((ROOT / doc).is_file() for doc in linked)


def test_a_room_missing_from_the_layout_is_seen():
    readme = "# x\n\n## Layout\n\n```\ndomain/   shared\nworkers/  jobs\n```\n\n## More\n"

    assert layout_rooms(readme) == ["domain", "workers"]
