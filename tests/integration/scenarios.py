"""Arrangements shared by the worker tests: an approved request, and a scan for leaked token values."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis

from domain import requests
from standins.base import WAIT_CEILING
from standins.world import APPROVERS, CHANNEL, World


def approved_request(conn: redis.Redis, world: World, action: str, token: str, reason: str = "scheduled",
                     replaces: str | None = None, owner: str | None = None) -> str:
    """A request asked by the first approver, approved by the second, its message posted: ready to run (a
    provision that `replaces` a revoke is the Provision replacement button's). It is approved for the owner kind
    the world's inventory declares (or `owner`, for a token only a test's inventory declares), as the web does."""
    now = world.clock.now()
    declared = world.inventory.find(token)
    request = requests.open_request(
        conn, action=action, token=token, requester=APPROVERS[0], reason=reason, needed=1,
        ttl=timedelta(minutes=30), channel=CHANNEL, now=now, replaces=replaces,
        owner=owner or (declared.owner if declared is not None else "user"),
    )
    ts = _post_as_bot(world, f"{action} {token} requested")
    requests.attach_message(conn, request.id, channel=CHANNEL, message_ts=ts, now=now)
    requests.approve(conn, request.id, user=APPROVERS[1], approvers=APPROVERS, now=now)
    requests.mark_queued(conn, request.id, now=now)
    return request.id


def tokens_path(world: World, name: str) -> str:
    """The stand-in path of the token list the inventory token `name`'s owner has: /client/v4/user/tokens, or
    /client/v4/accounts/{account_id}/tokens for an account-owned token."""
    token = world.inventory.find(name)
    assert token is not None
    return "/client/v4" + world.inventory.owner(token).tokens_path


def _post_as_bot(world: World, text: str) -> str:
    from slack_sdk import WebClient

    client = WebClient(token=world.slack.bot_token, base_url=world.slack.url + "/api/")
    return client.chat_postMessage(channel=CHANNEL, text=text)["ts"]


def token_values(world: World) -> set[str]:
    """Every token value the world ever held: issued by Cloudflare, or seeded in the vault."""
    return {v for v in world.cloudflare.issued_values() if len(v) > 8}


def redis_dump(conn: redis.Redis) -> bytes:
    """Every key and value in Redis, as raw bytes (strings, hashes, lists, sets, sorted sets, streams)."""
    chunks: list[bytes] = []
    for key in conn.scan_iter(count=1000):
        chunks.append(key)
        kind = conn.type(key).decode()
        if kind == "string":
            chunks.append(conn.get(key) or b"")
        elif kind == "hash":
            for field, value in conn.hgetall(key).items():
                chunks += [field, value, _inflated(value)]
        elif kind == "list":
            chunks += conn.lrange(key, 0, -1)
        elif kind == "set":
            chunks += list(conn.smembers(key))
        elif kind == "zset":
            chunks += [member for member, _ in conn.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            chunks += [b for _, fields in conn.xrange(key) for pair in fields.items() for b in pair]
    return b"\n".join(chunks)


def _inflated(value: bytes) -> bytes:
    """RQ stores job data zlib-compressed: look inside it too."""
    try:
        return zlib.decompress(value)
    except zlib.error:
        return b""


def leaks(haystack: str | bytes, values: set[str]) -> list[str]:
    """The values (shown by their last 4 characters only) that occur in `haystack`."""
    text = haystack.decode(errors="replace") if isinstance(haystack, bytes) else haystack
    return [f"…{value[-4:]}" for value in values if value in text]


def deliver(services) -> None:
    """Deliver everything the outbox holds, as the worker's delivery thread would."""
    from workers.delivery import for_services

    assert for_services(services).drain(timeout=WAIT_CEILING), "the outbox did not empty"


def scan_and_deliver(services):
    """One scan as the clock's job runs it, then its digest delivered as a worker's delivery thread would."""
    from workers.scan.scan import scan

    report = scan(services)
    deliver(services)
    return report


@contextmanager
def delivering(conn: redis.Redis, slack_url: str, *, token: str = "xoxb-standin-token") -> Iterator[None]:
    """The outbox delivered in a background thread, as a worker process does, for tests that run no worker."""
    from pydantic import SecretStr

    from domain.clock import utc_now
    from domain.inventory import load_inventory
    from domain.settings import DEFAULT_INVENTORY
    from workers.clients.slack import SlackClient
    from workers.delivery import Delivery

    slack = SlackClient(base_url=slack_url + "/api/", token=SecretStr(token), channel=CHANNEL)
    stop = threading.Event()
    outbox = Delivery(conn, slack, load_inventory(DEFAULT_INVENTORY), clock=utc_now)
    thread = threading.Thread(target=outbox.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        slack.close()
