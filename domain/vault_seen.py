"""What the bot last saw of each token's vault value, as keyed hashes (never values): HMAC-SHA256 of the name and the
value under a key derived from CFTOKEN_SECRET_KEY with its own label, in one Redis hash `cftoken:vault:seen`.

The bot's own writes record theirs as they land; Infisical's secrets.modified event makes the worker compare the
folder with them, so a value changed by hand (and only such a value) is told and checked at once.
"""

from __future__ import annotations

import hashlib
import hmac

import redis
from pydantic import SecretStr

SEEN_KEY = "cftoken:vault:seen"  # hash: token name -> keyed hash of the value last seen
_LABEL = b"cftoken-vault-seen-v1"
GONE = "-"  # the value was seen missing


def derive_key(secret: SecretStr) -> bytes:
    return hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()


def fingerprint(key: bytes, name: str, value: SecretStr | None) -> str:
    """The keyed hash of `name`'s value (GONE when there is none): equal values give equal hashes, nothing more."""
    if value is None:
        return GONE
    return hmac.new(key, name.encode() + b"\0" + value.get_secret_value().encode(), hashlib.sha256).hexdigest()


def remember(conn: redis.Redis, key: bytes, name: str, value: SecretStr | None) -> None:
    conn.hset(SEEN_KEY, name, fingerprint(key, name, value))


def last_seen(conn: redis.Redis) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in conn.hgetall(SEEN_KEY).items()}


def changed(key: bytes, seen: dict[str, str], values: dict[str, SecretStr | None],
            previous: bytes | None = None) -> list[str]:
    """The names whose value differs from the one last seen (a name never seen before is not a change); during a
    CFTOKEN_SECRET_KEY change a hash under the previous key still counts as the same value."""
    keys = (key, previous) if previous is not None else (key,)
    return [name for name, value in values.items() if name in seen and not any(
        hmac.compare_digest(seen[name], fingerprint(one, name, value)) for one in keys)]


def baseline(conn: redis.Redis, key: bytes, values: dict[str, SecretStr | None]) -> None:
    """Record names never seen before (the scan does, so a first hand change has something to differ from)."""
    with conn.pipeline(transaction=False) as pipe:
        for name, value in values.items():
            pipe.hsetnx(SEEN_KEY, name, fingerprint(key, name, value))
        pipe.execute()
