"""Cloudflare API-token client: verify, read, list, roll, update and delete tokens; permission groups; zones.

    with CloudflareClient(base_url="https://api.cloudflare.com/client/v4", management_token=mgmt) as cf:
        cf.verify(token)             # the token under test authenticates itself
        new_value = cf.roll(token_id)  # everything else uses the management token

One seam serves both kinds of token: the client's `owner` (domain.token_owner.TokenOwner, the user by default, or
an account) builds every token path, `/user/tokens…` or `/accounts/{account_id}/tokens…`; callers never spell
either. `verify` takes the owner whose verify endpoint to ask, since a value's kind may differ from its record's.

Every request goes through `workers.clients.http.send` (retries only for idempotent calls). Cloudflare's envelope
is unwrapped in `_call`, which turns failures into domain.errors types. Token values travel only in the
Authorization header built per request; they are never logged, stored in a printable attribute or put in an error.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from domain.cloudflare_tokens import CfToken, PermissionGroup, Policy, Verification, Zone, _Model
from domain.errors import (
    ManagementTokenInvalid,
    NotAuthorized,
    TokenInvalid,
    TokenNotFound,
    UnexpectedResponse,
)
from domain.token_owner import USER, TokenOwner, verify_order
from workers.clients.http import RetryPolicy, send

log = logging.getLogger(__name__)
SERVICE = "cloudflare"
PER_PAGE = 50
DEFAULT_RETRY = RetryPolicy()
_NOT_AUTHORIZED_CODES = frozenset({9109, 10000})


M = TypeVar("M", bound=_Model)


class _Envelope(NamedTuple):
    result: Any
    info: dict[str, Any]


class CloudflareClient:
    """Typed calls to Cloudflare's token endpoints of one owner, and /zones, over one reused httpx.Client."""

    def __init__(self, *, base_url: str, management_token: SecretStr | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy = DEFAULT_RETRY,
                 owner: TokenOwner = USER) -> None:
        self.base_url = base_url.rstrip("/")
        self.owner = owner
        self._management = management_token
        self._retry = retry
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"CloudflareClient(base_url={self.base_url!r})"

    def __enter__(self) -> CloudflareClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def verify(self, token: SecretStr, owner: TokenOwner | None = None) -> Verification:
        """Ask Cloudflare whether `token` itself is valid and active (TokenInvalid if not), at the verify endpoint
        of `owner` (default: the client's)."""
        path = (owner or self.owner).tokens_path + "/verify"
        envelope = self._call("GET", path, token=token, subject=True, idempotent=True)
        return _parse(Verification, envelope.result)

    def verify_value(self, token: SecretStr, declared: TokenOwner,
                     account_id: str | None) -> tuple[Verification, TokenOwner]:
        """Verify a value at the endpoint its prefix names (cfat_ account, cfut_ user); a legacy value at its
        declared owner's, then after a 401 code 1000 at the other once. Returns the answer and whose endpoint
        gave it (the value's real kind); TokenInvalid from the first endpoint when none accepts it."""
        first: TokenInvalid | None = None
        for owner in verify_order(token.get_secret_value(), declared, account_id):
            try:
                return self.verify(token, owner), owner
            except TokenInvalid as exc:
                first = first or exc
        assert first is not None
        raise first

    def probe(self, token: SecretStr, path: str, params: dict[str, Any] | None = None) -> None:
        """A read-only call of the token's own job with `token` itself; NotAuthorized when Cloudflare refuses it."""
        self._call("GET", path, token=token, subject=True, idempotent=True, params=params)

    def get_token(self, token_id: str) -> CfToken:
        """The token's record (never its value)."""
        envelope = self._call("GET", self.owner.token_path(token_id), token_id=token_id, idempotent=True)
        return _parse(CfToken, envelope.result)

    def list_tokens(self, *, name: str | None = None) -> list[CfToken]:
        """Every token of the owner (user or account), recently expired ones included (or those called exactly
        `name`, filtered here: Cloudflare's list has no name filter): page+1 until the last page by total_pages, or
        a short or empty page. Without include_expired=true expired tokens are left out and would read as deleted."""
        tokens: list[CfToken] = []
        page = 1
        while True:
            envelope = self._call("GET", self.owner.tokens_path, idempotent=True,
                                  params={"page": page, "per_page": PER_PAGE, "include_expired": "true"})
            items = envelope.result if isinstance(envelope.result, list) else []
            parsed = [_parse(CfToken, item) for item in items]
            tokens += [token for token in parsed if name is None or token.name == name]
            total_pages = envelope.info.get("total_pages")
            last_page = isinstance(total_pages, int) and page >= total_pages
            if last_page or len(items) < int(envelope.info.get("per_page") or PER_PAGE):
                return tokens
            page += 1

    def create_token(self, name: str, policies: list[Policy], *, expires_on: datetime | None = None,
                     not_before: datetime | None = None,
                     condition: dict[str, Any] | None = None) -> tuple[CfToken, SecretStr]:
        """Mint a token; never retried (a repeat would mint a second one). Returns the token and its value."""
        body = _token_body(name, policies, expires_on=expires_on, not_before=not_before, condition=condition)
        envelope = self._call("POST", self.owner.tokens_path, idempotent=False, json=body)
        value = envelope.result.get("value") if isinstance(envelope.result, dict) else None
        if not isinstance(value, str) or not value:
            raise UnexpectedResponse("Cloudflare created a token but returned no value", service=SERVICE)
        return _parse(CfToken, envelope.result), SecretStr(value)

    def roll(self, token_id: str) -> SecretStr:
        """Issue a new value for `token_id` (the old one dies at once); never retried."""
        envelope = self._call("PUT", self.owner.token_path(token_id) + "/value", token_id=token_id,
                              idempotent=False, json={})
        if not isinstance(envelope.result, str) or not envelope.result:
            raise UnexpectedResponse(f"Cloudflare rolled token {token_id} but returned no value", service=SERVICE)
        return SecretStr(envelope.result)

    def update_token(self, token: CfToken, *, expires_on: datetime | None) -> CfToken:
        """Replace `token` keeping its name, policies, status, not_before and condition; set expires_on."""
        body = _token_body(token.name, token.policies, expires_on=expires_on, not_before=token.not_before,
                           condition=token.condition)
        body["status"] = token.status
        envelope = self._call("PUT", self.owner.token_path(token.id), token_id=token.id, idempotent=True, json=body)
        return _parse(CfToken, envelope.result)

    def delete_token(self, token_id: str) -> None:
        """Revoke `token_id` at once; safe to retry (a repeat answers TokenNotFound)."""
        self._call("DELETE", self.owner.token_path(token_id), token_id=token_id, idempotent=True)

    def permission_groups(self) -> list[PermissionGroup]:
        """Every permission group a policy of the owner's tokens may name (one page)."""
        envelope = self._call("GET", self.owner.tokens_path + "/permission_groups", idempotent=True)
        return [_parse(PermissionGroup, item) for item in envelope.result or []]

    def list_zones(self) -> list[Zone]:
        """Every zone the management token may read (GET /zones shows only those), page by page."""
        zones: list[Zone] = []
        page = 1
        while True:
            envelope = self._call("GET", "/zones", idempotent=True, params={"page": page, "per_page": PER_PAGE})
            items = envelope.result if isinstance(envelope.result, list) else []
            zones += [_parse(Zone, item) for item in items]
            total_pages = envelope.info.get("total_pages")
            if (isinstance(total_pages, int) and page >= total_pages) or len(items) < PER_PAGE:
                return zones
            page += 1

    def zone_by_name(self, name: str) -> Zone | None:
        """The zone called exactly `name`, or None."""
        envelope = self._call("GET", "/zones", idempotent=True, params={"name": name})
        zones = [_parse(Zone, item) for item in envelope.result or []]
        return next((zone for zone in zones if zone.name == name), None)

    def _call(self, method: str, path: str, *, idempotent: bool, token: SecretStr | None = None,
              subject: bool = False, token_id: str | None = None, **kwargs: Any) -> _Envelope:
        """Send with the right bearer, unwrap the envelope, and map failures to domain.errors types."""
        bearer = token if subject else self._management
        if bearer is None:
            raise ManagementTokenInvalid("no management token is configured (CF_ACCESS_MGMT)", service=SERVICE)
        headers = {"Authorization": f"Bearer {bearer.get_secret_value()}"}
        response = send(self._http, SERVICE, method, path, idempotent=idempotent, policy=self._retry,
                        headers=headers, **kwargs)
        body = _json(response)
        if response.is_success and body.get("success") is True:
            info = body.get("result_info")
            return _Envelope(body.get("result"), info if isinstance(info, dict) else {})
        code, message = _first_error(body)
        what = f"{method} {path}"
        log.info("cloudflare %s answered HTTP %s code %s", what, response.status_code, code)
        if code == 1000 or response.status_code == 401:
            if subject:
                raise TokenInvalid(f"Cloudflare rejected the token under test: {message} (code {code}); it is "
                                   "expired, revoked, disabled or the vault holds the wrong value", service=SERVICE)
            raise ManagementTokenInvalid(f"Cloudflare rejected the management token on {what}: {message} "
                                         f"(code {code})", service=SERVICE)
        if code in _NOT_AUTHORIZED_CODES or response.status_code == 403:
            whose = "token under test" if subject else "management token"
            raise NotAuthorized(f"the {whose} may not {what}: {message} (code {code})", service=SERVICE)
        if token_id is not None and (code == 7003 or response.status_code == 404):
            raise TokenNotFound(f"Cloudflare has no token with id {token_id}", service=SERVICE)
        said = f"code {code}" if code is not None else "no error code"
        raise UnexpectedResponse(f"Cloudflare answered HTTP {response.status_code} {said}: {message} ({what})",
                                 service=SERVICE, status=response.status_code, code=code)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _first_error(body: dict[str, Any]) -> tuple[int | None, str]:
    """Code and message of the first error, trimmed: Cloudflare's text, never our request."""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    message = str(first.get("message") or "no error message")[:200]
    return (code if isinstance(code, int) else None), message


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The exception text can echo field values; name only the model and the failing fields.
        fields = ", ".join(".".join(str(part) for part in error["loc"]) or "result" for error in exc.errors())
        raise UnexpectedResponse(f"Cloudflare returned a {model.__name__} that does not fit the contract "
                                 f"({fields})", service=SERVICE) from None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _token_body(name: str, policies: list[Policy], *, expires_on: datetime | None, not_before: datetime | None,
                condition: dict[str, Any] | None) -> dict[str, Any]:
    """A create/update body: policy ids and group names are read-only, so only group ids are sent."""
    body: dict[str, Any] = {
        "name": name,
        "policies": [{"effect": p.effect, "resources": p.resources,
                      "permission_groups": [{"id": g.id} for g in p.permission_groups]} for p in policies],
    }
    if expires_on is not None:
        body["expires_on"] = _stamp(expires_on)
    if not_before is not None:
        body["not_before"] = _stamp(not_before)
    if condition is not None:
        body["condition"] = condition
    return body
