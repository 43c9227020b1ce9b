"""What an Infisical login refusal means, and the shared note that keeps the bot from logging in again too soon.

Infisical locks an identity's Universal Auth after 3 failed logins (300 s by default), revokes a client secret at
its use limit or past its TTL, and counts every failed login towards the lock. A refused login is therefore
noted (`LoginGate.block`), and until the note lapses every process (one note in Redis, `RedisLoginGate`) raises
VaultLoginBlocked without asking Infisical: a lock is waited out, a used-up or expired secret waits for a new
INFISICAL_CLIENT_SECRET (the note names the secret it was about by a fingerprint, so a new one clears it), and a
secret Infisical does not accept is tried again at most once per lock period, so the bot alone never locks the
identity. The note holds a kind, a time and a fingerprint, never text from Infisical: what is shown is built here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis

from domain.errors import VaultLoginBlocked

LOCK_SECONDS = 300.0  # Infisical's default lockout duration; the configured one is not in its answer
NOTE_KEY = "cftoken:infisical:login-blocked"
KINDS = {  # Infisical's message (lower case) → kind
    "temporarily locked": "locked",
    "usage limit reached": "exhausted",
    "expired client secret": "expired",
    "invalid credentials": "rejected",
}
_WHAT = {
    "locked": "Infisical has locked the machine identity's Universal Auth after repeated failed logins",
    "exhausted": "the machine identity's client secret reached its use limit and Infisical revoked it",
    "expired": "the machine identity's client secret expired and Infisical revoked it",
    "rejected": "Infisical rejected the machine identity's credentials (Invalid credentials)",
}
_FIX = {
    "locked": ("Check that INFISICAL_CLIENT_SECRET is the identity's current client secret (a wrong one somewhere "
               "caused the failed logins); the lock lapses by itself."),
    "exhausted": ("Create a new client secret for the identity (Infisical → Access Control → Identities → Universal "
                  "Auth) without a use limit, set INFISICAL_CLIENT_SECRET to it and restart the bot."),
    "expired": ("Create a new client secret for the identity (Infisical → Access Control → Identities → Universal "
                "Auth) without a TTL, or with a long one, set INFISICAL_CLIENT_SECRET to it and restart the bot."),
    "rejected": "Check INFISICAL_CLIENT_ID and INFISICAL_CLIENT_SECRET against the identity in Infisical.",
}


@dataclass(frozen=True)
class LoginNote:
    kind: str  # one of KINDS' values
    until: float | None  # unix time the bot may log in again; None: not with this client secret
    secret: str  # fingerprint of the client secret it was about

    def blocked(self, now: float, secret: str) -> bool:
        if self.secret != secret:
            return False  # a new client secret: try it
        return self.until is None or now < self.until

    def error(self, *, said: str = "") -> VaultLoginBlocked:
        """The error for this note: with `said` (Infisical's own words, from the refusal just met) the first
        report; without, a reminder that the bot is holding off."""
        when = ("until a new INFISICAL_CLIENT_SECRET is set" if self.until is None
                else f"before {datetime.fromtimestamp(self.until, UTC):%H:%M:%S} UTC")
        lead = f"{said}: {_WHAT[self.kind]}" if said else f"Still not logging in to Infisical: {_WHAT[self.kind]}"
        return VaultLoginBlocked(f"{lead}; the bot will not log in again {when}", fix=_FIX[self.kind],
                                 until=self.until)


def classify(message: str, now: float, secret: str) -> LoginNote | None:
    """The note for a refused login's message (None: a refusal that says nothing about trying again)."""
    lowered = message.lower()
    kind = next((kind for phrase, kind in KINDS.items() if phrase in lowered), None)
    if kind is None:
        return None
    until = None if kind in ("exhausted", "expired") else now + LOCK_SECONDS
    return LoginNote(kind, until, secret)


def fingerprint(secret: str) -> str:
    """A short one-way tag of the client secret: enough to tell a new secret from the old one."""
    return hashlib.sha256(b"cftoken-infisical-login:" + secret.encode()).hexdigest()[:16]


class LoginGate(Protocol):
    def note(self) -> LoginNote | None: ...

    def block(self, note: LoginNote) -> bool:
        """Record `note`; True when no such note was there before (the first process to see it reports it)."""
        ...


class MemoryLoginGate:
    """One process's note (the default; the CLI's one-shot check uses it)."""

    def __init__(self) -> None:
        self._note: LoginNote | None = None

    def note(self) -> LoginNote | None:
        return self._note

    def block(self, note: LoginNote) -> bool:
        first = self._note is None or (self._note.kind, self._note.secret) != (note.kind, note.secret)
        self._note = note
        return first


class RedisLoginGate:
    """The note shared by every worker process, kept in Redis until it lapses."""

    def __init__(self, conn: redis.Redis) -> None:
        self._conn = conn

    def note(self) -> LoginNote | None:
        raw = self._conn.get(NOTE_KEY)
        try:
            data = json.loads(raw) if raw else None
            if not isinstance(data, dict) or data.get("kind") not in _WHAT:
                return None
            until = data.get("until")
            return LoginNote(data["kind"], float(until) if until is not None else None, str(data["secret"]))
        except (ValueError, TypeError, KeyError):
            return None  # a note someone wrote by hand is no reason to stop logging in

    def block(self, note: LoginNote) -> bool:
        value = json.dumps({"kind": note.kind, "until": note.until, "secret": note.secret})
        previous = self._conn.set(NOTE_KEY, value, get=True,
                                  ex=int(LOCK_SECONDS) + 5 if note.until is not None else None)
        try:
            before = json.loads(previous) if previous else {}
        except ValueError:
            before = {}
        return not isinstance(before, dict) or (before.get("kind"), before.get("secret")) != (note.kind, note.secret)
