"""Approvers as Slack user IDs: user-group entries (S…) resolved through `usergroups.users.list`.

A decision (a new roll/revoke request, Approve, Deny) reads the group fresh, with a short timeout and no
retry, so a removed member cannot approve and a slow Slack cannot make the ack late: when the group cannot be
read in LOOKUP_SECONDS the answer says so and nothing is decided. Each fresh read refreshes a cache
(`cftoken:approvers:<S…>`) that only display (`/cftoken help`) uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from domain.errors import ApproversUnavailable

CACHE_SECONDS = 300
LOOKUP_SECONDS = 1.5  # well inside Slack's 3 s for the ack, which waits for it on a new request


def cache_key(group_id: str) -> str:
    return f"cftoken:approvers:{group_id}"


def current_approvers(
    configured: Iterable[str], *, conn: redis.Redis, client: WebClient, timeout: float = LOOKUP_SECONDS
) -> frozenset[str]:
    """The user IDs allowed to request and approve now: listed users plus the groups' members, read fresh."""
    users: set[str] = set()
    for entry in configured:
        if not entry.startswith("S"):
            users.add(entry)
            continue
        members = _read_group(entry, client, timeout)
        conn.set(cache_key(entry), json.dumps(members), ex=CACHE_SECONDS)
        users.update(members)
    return frozenset(users)


def shown_approvers(
    configured: Iterable[str], *, conn: redis.Redis, client: WebClient, timeout: float = LOOKUP_SECONDS
) -> frozenset[str]:
    """Approvers for display only: the cache when it has the group, else a fresh read."""
    users: set[str] = set()
    for entry in configured:
        if not entry.startswith("S"):
            users.add(entry)
            continue
        cached = conn.get(cache_key(entry))
        if cached is None:
            users.update(current_approvers([entry], conn=conn, client=client, timeout=timeout))
        else:
            users.update(json.loads(cached))
    return frozenset(users)


def _read_group(group_id: str, client: WebClient, timeout: float) -> list[str]:
    quick = WebClient(token=client.token, base_url=client.base_url, timeout=timeout, retry_handlers=[])
    try:
        return [str(user) for user in quick.usergroups_users_list(usergroup=group_id)["users"]]
    except (SlackClientError, OSError):
        raise ApproversUnavailable() from None
