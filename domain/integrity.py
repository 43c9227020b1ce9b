"""Integrity tags for the Redis records that lead to a Cloudflare change, so Redis alone cannot forge them.

A tag is HMAC-SHA256 over (kind, record id, payload) under a key derived from CFTOKEN_SECRET_KEY with a fixed
label: the key is never in Redis, and it differs from the Fernet key that seals new values (workers/sealing.py).
Binding the kind and the id means a tag cannot be moved to another record. The functions on bytes are pure; the
process sets its key once at start (`use_key`), and the thin calls at load/save use `process_key()` to sign and
`check_signed` / `verifies_any` to check.

While CFTOKEN_SECRET_KEY is being changed, CFTOKEN_SECRET_KEY_PREVIOUS (the key before) is accepted for reading: a
record tagged under it verifies, and every record is written (tagged) under the current key only, so each record
moves to the new key the next time it is written. Once no record older than the change is kept (30 days: finished
requests and checkpoints), unset the previous key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from domain.errors import RecordTampered, SettingsError

_LABEL = b"cftoken-integrity-v1"
_key: bytes | None = None
_previous: bytes | None = None


def derive_key(secret: SecretStr) -> bytes:
    """The tagging key: HMAC-SHA256(CFTOKEN_SECRET_KEY, fixed label), unrelated to the sealing key."""
    return hmac.new(secret.get_secret_value().encode(), _LABEL, hashlib.sha256).digest()


def tag(key: bytes, kind: str, record_id: str, payload: bytes) -> str:
    """Hex HMAC of `payload` as record `record_id` of `kind` (e.g. "request", "checkpoint")."""
    message = b"\0".join((kind.encode(), record_id.encode(), payload))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verifies(key: bytes, kind: str, record_id: str, payload: bytes, claimed: str | None) -> bool:
    """True when `claimed` is the tag of this payload (constant-time); a missing or malformed tag never does."""
    if not isinstance(claimed, str):
        return False
    return hmac.compare_digest(tag(key, kind, record_id, payload).encode(), claimed.encode())


def fields_payload(fields: Mapping[str, str | bytes]) -> bytes:
    """Canonical bytes of a hash's fields: sorted names, each name and value length-prefixed (no ambiguity)."""
    parts = []
    for name in sorted(fields):
        value = fields[name]
        raw = value if isinstance(value, bytes) else value.encode()
        parts.append(b"%d:%s%d:%s" % (len(name), name.encode(), len(raw), raw))
    return b"".join(parts)


def check(key: bytes, kind: str, record_id: str, payload: bytes, claimed: str | None) -> None:
    """Raise RecordTampered unless the tag verifies."""
    if not verifies(key, kind, record_id, payload, claimed):
        why = "has no integrity tag" if claimed is None else "has an integrity tag that does not verify"
        raise RecordTampered(f"The {kind} record {record_id} {why}: it was not written by cftoken", record_id=record_id)


def use_key(secret: SecretStr | None, previous: SecretStr | None = None) -> None:
    """Set this process's tagging key from CFTOKEN_SECRET_KEY, and the one also accepted for reading from
    CFTOKEN_SECRET_KEY_PREVIOUS (every process calls it at start)."""
    global _key, _previous
    _key = derive_key(secret) if secret is not None else None
    _previous = derive_key(previous) if previous is not None else None


def reading_keys() -> tuple[bytes, ...]:
    """The keys a tag may verify under: the current one, then the previous one while a key change is in progress."""
    current = process_key()
    return (current, _previous) if _previous is not None and _previous != current else (current,)


def verifies_any(kind: str, record_id: str, payload: bytes, claimed: str | None) -> bool:
    """True when `claimed` is the tag of this payload under the current key or the previous one."""
    return any(verifies(key, kind, record_id, payload, claimed) for key in reading_keys())


def check_signed(kind: str, record_id: str, payload: bytes, claimed: str | None) -> None:
    """`check` under the keys this process reads with (the current one, or the previous one during a change)."""
    for key in reading_keys()[1:]:
        if verifies(key, kind, record_id, payload, claimed):
            return
    check(reading_keys()[0], kind, record_id, payload, claimed)


def process_key() -> bytes:
    """This process's tagging key; SettingsError when CFTOKEN_SECRET_KEY was never given."""
    if _key is None:
        raise SettingsError("CFTOKEN_SECRET_KEY is not set: request records cannot be signed or checked without it")
    return _key
