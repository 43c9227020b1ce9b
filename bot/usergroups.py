"""Approvers as Slack user IDs: user-group entries (S…) resolved through `usergroups.users.list`, cached.

The cache (`cftoken:approvers:<S…>`, a few minutes) keeps clicks inside Slack's 3 seconds and spares the
Web API; a change to the group takes effect when the cache entry lapses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import redis
from slack_sdk import WebClient

CACHE_SECONDS = 300


def cache_key(group_id: str) -> str:
    return f"cftoken:approvers:{group_id}"


def resolve_approvers(
    configured: Iterable[str], *, conn: redis.Redis, client: WebClient, cache_seconds: int = CACHE_SECONDS
) -> frozenset[str]:
    """The user IDs allowed to request and approve: listed users plus the members of listed groups."""
    users: set[str] = set()
    for entry in configured:
        users.update(_members(entry, conn, client, cache_seconds) if entry.startswith("S") else {entry})
    return frozenset(users)


def _members(group_id: str, conn: redis.Redis, client: WebClient, cache_seconds: int) -> list[str]:
    cached = conn.get(cache_key(group_id))
    if cached is not None:
        return json.loads(cached)
    members = list(client.usergroups_users_list(usergroup=group_id)["users"])
    conn.set(cache_key(group_id), json.dumps(members), ex=cache_seconds)
    return members
