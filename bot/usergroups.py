"""Approvers as Slack user IDs: user-group entries (S…) resolved through `usergroups.users.list`.

A decision (a new roll/revoke request, Approve, Deny) reads the group fresh, with a short timeout and no
retry (but one immediate resend when a kept-alive connection turns out closed before any answer), so a removed
member cannot approve and a slow Slack cannot make the ack late: when the group cannot be read in LOOKUP_SECONDS
the answer says so and nothing is decided. The read goes over the web client's keep-alive pool
(bot/slack_http.py). Each fresh read refreshes a cache
(`cftoken:approvers:<S…>`) that only display (`/cftoken help`) uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.slack_http import quick_client
from domain.errors import ApproversUnavailable

CACHE_SECONDS = 300
LOOKUP_SECONDS = 1.5  # well inside Slack's 3 s for the ack, which waits for it on a new request


def cache_key(group_id: str) -> str:
    return f"cftoken:approvers:{group_id}"


def current_approvers(
    configured: Iterable[str], *, conn: redis.Redis, client: WebClient, timeout: float = LOOKUP_SECONDS
) -> frozenset[str]:
    """The user IDs allowed to request and approve now: listed users plus the groups' members, read fresh."""
    return _approvers(configured, lambda group: _fresh_members(group, conn, client, timeout))


def shown_approvers(
    configured: Iterable[str], *, conn: redis.Redis, client: WebClient, timeout: float = LOOKUP_SECONDS
) -> frozenset[str]:
    """Approvers for display only: the cache when it has the group, else a fresh read."""

    def members(group: str) -> list[str]:
        cached = conn.get(cache_key(group))
        return _fresh_members(group, conn, client, timeout) if cached is None else json.loads(cached)

    return _approvers(configured, members)


def _approvers(configured: Iterable[str], members: Callable[[str], list[str]]) -> frozenset[str]:
    """Listed users, and for each user group (S…) the members `members` gives."""
    users: set[str] = set()
    for entry in configured:
        users.update(members(entry) if entry.startswith("S") else [entry])
    return frozenset(users)


def _fresh_members(group_id: str, conn: redis.Redis, client: WebClient, timeout: float) -> list[str]:
    """A group's members read from Slack now; the display cache is refreshed with them."""
    members = _read_group(group_id, client, timeout)
    conn.set(cache_key(group_id), json.dumps(members), ex=CACHE_SECONDS)
    return members


def _read_group(group_id: str, client: WebClient, timeout: float) -> list[str]:
    quick = quick_client(client, timeout)
    try:
        return [str(user) for user in quick.usergroups_users_list(usergroup=group_id)["users"]]
    except (SlackClientError, OSError):
        raise ApproversUnavailable() from None
