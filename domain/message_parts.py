"""A long message as the few messages Slack accepts: at most 50 blocks each, and at most BLOCKS_TEXT_BUDGET
characters of block text each (Slack refuses more with `msg_blocks_too_long`, each block within its own limits:
refused at 11,341 measured characters in slackapi/bolt-js #2867; the stand-in refuses past 11,000).

Counted as the stand-in counts: the characters of every `text` string anywhere in the blocks.
"""

from __future__ import annotations

from typing import Any

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

MOST_BLOCKS = 50
BLOCKS_TEXT_BUDGET = 10_000  # a margin under the smallest refusal on record


def text_length(value: Any) -> int:
    """Characters of every `text` string anywhere inside `value` (blocks, a block, an element)."""
    if isinstance(value, list):
        return sum(text_length(item) for item in value)
    if not isinstance(value, dict):
        return 0
    own = len(value["text"]) if isinstance(value.get("text"), str) else 0
    return own + sum(text_length(item) for item in value.values() if not isinstance(item, str))


def split_message(message: Message, *, budget: int = BLOCKS_TEXT_BUDGET, most: int = MOST_BLOCKS) -> list[Message]:
    """`message` as one or more messages in order, each within `most` blocks and `budget` characters; the
    fallback text of each part says which part it is. Every block is kept: none is dropped or cut."""
    text, blocks = message
    parts: list[Blocks] = [[]]
    used = 0
    for block in blocks:
        size = text_length(block)
        if parts[-1] and (used + size > budget or len(parts[-1]) >= most):
            parts.append([])
            used = 0
        parts[-1].append(block)
        used += size
    if len(parts) == 1:
        return [(text, parts[0])]
    return [(f"{text} (part {n} of {len(parts)})", part) for n, part in enumerate(parts, start=1)]
