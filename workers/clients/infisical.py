"""Infisical client: Universal Auth login, then read and write the secrets of one folder (v4 API).

The access token is cached until shortly before it expires (60 s or 10 % of its lifetime, whichever is
smaller, by the injected clock); `expiresIn: 0` is a token that never expires (Infisical signs it without an
expiry), so the client never logs in again because of time — each login counts against the client secret's
usage limit. A call answered 401, or 403 TokenError, logs in again once and is retried
once. Secret values, the client secret and the access token are `SecretStr` and never reach logs, reprs or
exception text.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from domain.errors import (
    UnexpectedResponse,
    VaultAccessDenied,
    VaultFolderMissing,
    VaultLoginBlocked,
    VaultSecretMissing,
    VaultWriteHeld,
)
from workers.clients.http import RetryPolicy, send
from workers.clients.infisical_login import LoginGate, MemoryLoginGate, classify, fingerprint

log = logging.getLogger(__name__)

SERVICE = "infisical"
LOGIN_PATH = "/api/v1/auth/universal-auth/login"
SECRETS_PATH = "/api/v4/secrets"
_READ_FLAGS = {"viewSecretValue": "true", "expandSecretReferences": "false", "include_imports": "false"}


class InfisicalClient:
    """The bot's view of one Infisical folder (project, environment, path) under one machine identity."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: SecretStr,
        project_id: str,
        environment: str,
        secret_path: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so safe as a default
        clock: Callable[[], float] = time.monotonic,
        login_gate: LoginGate | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_write: Callable[[str, SecretStr], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_id, self.environment, self.secret_path = project_id, environment, secret_path
        self._client_id, self._client_secret = client_id, client_secret
        self._retry, self._clock = retry, clock
        self._gate, self._wall = login_gate or MemoryLoginGate(), wall_clock
        self._on_write = on_write  # told of each value the bot wrote (workers/services.py: the vault-seen hashes)
        self.first_block: VaultLoginBlocked | None = None  # set when this client's login was the one refused
        self._token: SecretStr | None = None
        self._token_good_until = 0.0
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return (f"InfisicalClient(base_url={self.base_url!r}, project={self.project_id!r}, "
                f"environment={self.environment!r}, path={self.secret_path!r})")

    def __enter__(self) -> InfisicalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def list_folder(self, path: str | None = None, environment: str | None = None) -> dict[str, SecretStr]:
        """Every secret in one folder (companions included), in one request."""
        params = {**self._where(path, environment), **_READ_FLAGS, "recursive": "false"}
        response = self._call("GET", SECRETS_PATH, idempotent=True, params=params)
        secrets = self._read(response)["secrets"]
        log.debug("infisical listed %d secrets", len(secrets))
        return {item["secretKey"]: self._value(item) for item in secrets}

    def confirm_folder(self, name: str) -> None:
        """After an empty listing (Infisical lists a missing folder as empty): read `name`, which must be there,
        so a folder or environment that does not exist raises VaultFolderMissing and an empty folder
        VaultSecretMissing for `name`."""
        self.get(name)

    def get(self, name: str) -> SecretStr:
        """One secret's value; VaultSecretMissing if there is none at this path and environment."""
        response = self._call("GET", _one(name), idempotent=True, params={**self._where(), **_READ_FLAGS})
        return self._value(self._read(response, name=name)["secret"])

    def set(self, name: str, value: SecretStr) -> int:
        """Create or update one secret; return its new version."""
        body = {**self._where(), "secretValue": value.get_secret_value()}
        response = self._call("PATCH", _one(name), idempotent=True, json=body, secret=value)
        if _field(response, "error") == "NotFound":
            response = self._call("POST", _one(name), idempotent=True, json=body, secret=value)
            if "already exist" in _field(response, "message"):  # a retried POST or a racing writer made it
                response = self._call("PATCH", _one(name), idempotent=True, json=body, secret=value)
        version = int(self._read(response, name=name, secret=value)["secret"]["version"])
        log.debug("infisical wrote %s (version %d)", name, version)
        if self._on_write is not None:
            self._on_write(name, value)
        return version

    def call(self, method: str, url: str, *, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Another Infisical route under this client's login (workers/clients/infisical_syncs.py): the raw answer."""
        return self._call(method, url, idempotent=idempotent, **kwargs)

    def _where(self, path: str | None = None, environment: str | None = None) -> dict[str, str]:
        return {"projectId": self.project_id, "environment": environment or self.environment,
                "secretPath": path or self.secret_path}

    def _call(self, method: str, url: str, *, idempotent: bool, secret: SecretStr | None = None,
              **kwargs: Any) -> httpx.Response:
        """Send with the cached token; on 401 or 403 TokenError log in again and retry once."""
        response = send(self._http, SERVICE, method, url, idempotent=idempotent, policy=self._retry,
                        headers=self._auth(), **kwargs)
        if _token_refused(response):
            log.info("infisical refused the access token (HTTP %s); logging in again", response.status_code)
            self._token = None
            response = send(self._http, SERVICE, method, url, idempotent=idempotent, policy=self._retry,
                            headers=self._auth(), **kwargs)
        if _token_refused(response):
            raise VaultAccessDenied(_describe(response, "refused a fresh access token", secret), service=SERVICE)
        return response

    def _auth(self) -> dict[str, str]:
        if self._token is None or self._clock() >= self._token_good_until:
            self._login()
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def _login(self) -> None:
        secret = fingerprint(self._client_secret.get_secret_value())
        note = self._gate.note()
        if note is not None and note.blocked(self._wall(), secret):
            raise note.error()  # logging in now would only count as one more failure
        body = {"clientId": self._client_id, "clientSecret": self._client_secret.get_secret_value()}
        started = self._clock()
        response = send(self._http, SERVICE, "POST", LOGIN_PATH, idempotent=True, policy=self._retry, json=body)
        if response.status_code in (401, 403, 404):
            detail = _describe(response, "rejected the machine identity's credentials", self._client_secret)
            note = classify(_field(response, "message"), self._wall(), secret)
            if note is None:
                raise VaultAccessDenied(detail, service=SERVICE)
            error = note.error(said=detail)
            if self._gate.block(note):
                self.first_block = error
            raise error
        data = self._read(response, secret=self._client_secret)
        try:
            lifetime = float(data["expiresIn"])
            self._token = SecretStr(str(data["accessToken"]))
        except (KeyError, TypeError, ValueError):
            raise UnexpectedResponse("infisical login answered without accessToken/expiresIn",
                                     service=SERVICE) from None
        self._token_good_until = _good_until(started, lifetime)
        log.debug("infisical login ok; access token valid for %s", f"{lifetime:.0f}s" if lifetime else "ever")

    def _read(self, response: httpx.Response, *, name: str | None = None,
              secret: SecretStr | None = None) -> dict[str, Any]:
        """The JSON body of a success, or the typed error the answer means."""
        if response.status_code == 404 and _field(response, "message").startswith("Folder with path"):
            raise VaultFolderMissing(self.secret_path, self.environment, _field(response, "message")[:200])
        if response.status_code == 404 and _field(response, "error") == "NotFound" and name is not None:
            raise VaultSecretMissing(name, self.secret_path, self.environment)
        if response.status_code in (401, 403):
            raise VaultAccessDenied(_describe(response, "denied access", secret), service=SERVICE)
        if response.status_code != 200:
            raise UnexpectedResponse(_describe(response, "answered", secret), service=SERVICE)
        data = _json(response)
        if not isinstance(data, dict):
            raise UnexpectedResponse("infisical answered 200 with a body that is not a JSON object",
                                     service=SERVICE)
        if "approval" in data:
            raise VaultWriteHeld(f"a secret-approval policy holds the change to {name} at {self.secret_path} "
                                 f"in {self.environment}", service=SERVICE)
        return data

    def _value(self, item: dict[str, Any]) -> SecretStr:
        if item.get("secretValueHidden"):
            raise VaultAccessDenied(f"infisical hid the value of {item.get('secretKey')}: the machine identity "
                                    "may not read secret values", service=SERVICE)
        return SecretStr(item["secretValue"])


def _good_until(started: float, lifetime: float) -> float:
    """When to log in again: early enough that a token cannot expire in flight; never for a TTL of 0."""
    if lifetime <= 0:
        return math.inf
    return started + lifetime - min(60.0, lifetime * 0.1)


def _one(name: str) -> str:
    return f"{SECRETS_PATH}/{quote(name, safe='')}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _field(response: httpx.Response, key: str) -> str:
    """One text field of an Infisical error body ('' when absent)."""
    body = _json(response)
    return str(body.get(key, "")) if isinstance(body, dict) else ""


def _token_refused(response: httpx.Response) -> bool:
    return response.status_code == 401 or (response.status_code == 403 and _field(response, "error") == "TokenError")


def _describe(response: httpx.Response, what: str, secret: SecretStr | None) -> str:
    """One line naming Infisical's status, error and message, with any secret we sent masked out."""
    body = _json(response)
    message = body.get("message", "") if isinstance(body, dict) else ""
    if isinstance(message, list):  # zod issues: keep the fields' paths and messages, not the received values
        message = "; ".join(f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}" for i in message
                            if isinstance(i, dict))
    text = f"infisical {what} (HTTP {response.status_code} {_field(response, 'error')}: {str(message)[:300]})"
    if secret is not None and secret.get_secret_value():
        text = text.replace(secret.get_secret_value(), "**********")
    return text
