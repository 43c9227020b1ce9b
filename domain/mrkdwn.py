"""Slack mrkdwn for text the bot did not write: escaped so it can never mention, link or format.

Imported by every module that shows such text (messages, provision_messages, revoke_targets, forgeries), so it
imports nothing of the project.
"""

from __future__ import annotations

import re

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def escape(text: str) -> str:
    """Slack's mrkdwn escaping for text a person typed, a configuration named, or Redis held."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user: str | None) -> str:
    """`<@U…>` for a Slack user id; anything else (a job argument, a forged field) is shown escaped, never live."""
    if user and _USER_ID.match(user):
        return f"<@{user}>"
    return escape(user or "unknown")


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut; never inside Slack's markup: a cut that
    would split `<…>` (a date, a mention, a link) or an `&amp;`-style escape backs off to before it."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    opened = cut.rfind("<")
    if opened != -1 and ">" not in cut[opened:]:
        cut = cut[:opened]
    amp = cut.rfind("&")
    if amp != -1 and len(cut) - amp < 5 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"
