"""The Infisical stand-in's Universal Auth identities: login, its limits, and the access tokens it issues.

As Infisical's identity-ua-service does (api-contracts.md "Learned since the first round", round three #5):
- lockout is on by default: `lockout_attempts` (3) failed logins within the window lock the identity's Universal
  Auth for `lockout_seconds` (300) of the stand-in's clock; while locked, every login (even with the right secret)
  answers 401 "This identity auth method is temporarily locked, please try again later";
- a client secret with a use limit (`clientSecretNumUsesLimit`) is revoked once the limit is reached: that login
  answers 401 "Access denied due to client secret usage limit reached", and the secret is gone after it;
- a client secret past its TTL answers 401 "Access denied due to expired client secret" and is revoked too;
- a revoked (or unknown) secret reads as bad credentials: 401 "Invalid credentials";
- 429 on lock contention is a fault (`standin.faults.fail_next(LOGIN, 1, "429")`), answered RateLimitExceeded.
An access token that is not a JWT at all answers 403 TokenError (malformed), one that is a JWT the stand-in never
issued 401 (not allowed), as verify-auth does.
"""

from __future__ import annotations

import secrets as random_tokens
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LOCKED = "This identity auth method is temporarily locked, please try again later"
USES_EXHAUSTED = "Access denied due to client secret usage limit reached"
SECRET_EXPIRED = "Access denied due to expired client secret"
BAD_CREDENTIALS = "Invalid credentials"
MALFORMED = "The provided access token is malformed. Please re-authenticate."  # wording after "malformed" unverified


class LoginRefused(Exception):
    """A login Infisical refuses: HTTP status, error name and message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass
class Identity:
    """One machine identity with one client secret and its Universal Auth limits."""

    secret: str
    project: str
    read: bool = True
    write: bool = True
    uses: int = 0
    uses_limit: int = 0  # 0: no limit (Infisical's default)
    secret_expires: datetime | None = None
    secret_revoked: bool = False
    failures: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None


class IdentityStore:
    """Identities, their logins and the access tokens issued to them."""

    def __init__(self, *, lockout_attempts: int = 3, lockout_seconds: int = 300,
                 lockout_window_seconds: int = 30) -> None:
        self.lockout_attempts, self.lockout_seconds = lockout_attempts, lockout_seconds
        self.lockout_window = timedelta(seconds=lockout_window_seconds)
        self.identities: dict[str, Identity] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.logins = 0  # every login attempt that reached the check, refused or not

    def login(self, client_id: str, client_secret: str, now: datetime) -> Identity:
        """The identity this login authenticates, or LoginRefused as Infisical answers it."""
        self.logins += 1
        identity = self.identities.get(client_id)
        if identity is None:
            raise LoginRefused(401, "UnauthorizedError", BAD_CREDENTIALS)
        if identity.locked_until is not None and now < identity.locked_until:
            raise LoginRefused(401, "UnauthorizedError", LOCKED)
        good = not identity.secret_revoked and random_tokens.compare_digest(identity.secret, client_secret)
        if not good:
            self._failed(identity, now)
            raise LoginRefused(401, "UnauthorizedError", BAD_CREDENTIALS)
        identity.failures.clear()
        if identity.secret_expires is not None and now >= identity.secret_expires:
            identity.secret_revoked = True
            raise LoginRefused(401, "UnauthorizedError", SECRET_EXPIRED)
        if identity.uses_limit and identity.uses >= identity.uses_limit:
            identity.secret_revoked = True
            raise LoginRefused(401, "UnauthorizedError", USES_EXHAUSTED)
        identity.uses += 1
        return identity

    def _failed(self, identity: Identity, now: datetime) -> None:
        identity.failures = [at for at in identity.failures if now - at < self.lockout_window] + [now]
        if len(identity.failures) >= self.lockout_attempts:
            identity.locked_until = now + timedelta(seconds=self.lockout_seconds)
            identity.failures.clear()

    def issue(self, client_id: str, now: datetime, ttl: int) -> str:
        token = f"eyJhbGciOiJIUzI1NiJ9.{random_tokens.token_urlsafe(24)}.{random_tokens.token_urlsafe(16)}"
        expires = now + timedelta(seconds=ttl) if ttl else None
        self.tokens[token] = {"client_id": client_id, "expires": expires, "revoked": False}
        return token

    def holder(self, token: str | None, now: datetime) -> Identity:
        """The identity an access token belongs to, or LoginRefused as verify-auth answers a bad token."""
        if not token:
            raise LoginRefused(401, "UnauthorizedError", "Token missing")
        issued = self.tokens.get(token)
        if issued is None and not _jwt_shaped(token):
            raise LoginRefused(403, "TokenError", MALFORMED)
        if issued is None or issued["revoked"]:
            raise LoginRefused(401, "UnauthorizedError", "You are not allowed to access this resource")
        if issued["expires"] is not None and now >= issued["expires"]:
            raise LoginRefused(403, "TokenError", "Your token has expired. Please re-authenticate.")
        return self.identities[issued["client_id"]]


def _jwt_shaped(token: str) -> bool:
    """Three non-empty base64url parts: what jsonwebtoken can at least decode before checking the signature."""
    parts = token.split(".")
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    return len(parts) == 3 and all(part and set(part) <= allowed for part in parts)
