"""Cloudflare's Audit Logs v2 reader: `GET /accounts/{account_id}/logs/audit`, page by page (api-contracts.md
"Audit Logs v2").

    with AuditLogClient(base_url=..., token=audit_value, token_name="CF_ACCESS_MGMT", account_id=...) as log:
        read = log.read(since=now - timedelta(days=30), before=now, filters={"actor_token_id": [token_id]})
        read.entries, read.complete

The next page's cursor is `result_info.cursors.after` (SDK 5.9) or `result_info.cursor` (the docs, SDK 4.3),
whichever is there; an absent or empty cursor ends the read, and so do `max_pages` and `budget_seconds` (bounded:
`complete` is then False, and a revoke waiting on the read is never held up by a slow log). Positive filters are
sent repeated (`actor_token_id=a&actor_token_id=b`), exclusions as the SDK sends them (`actor_token_id.not=…`).
A refusal becomes AuditLogUnavailable saying why and what to fix; transport trouble is retried by
`workers.clients.http.send` (the read is idempotent) and raised as ServiceUnavailable or RateLimited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from domain.cloudflare_audit import AuditEntry, parse_entry
from domain.errors import AuditLogUnavailable, UnexpectedResponse
from workers.clients.http import RetryPolicy, send

log = logging.getLogger(__name__)
SERVICE = "cloudflare"
PAGE_SIZE = 100
MAX_PAGES = 10
BUDGET_SECONDS = 20.0  # no new page is asked for after this long


@dataclass(frozen=True)
class AuditRead:
    entries: tuple[AuditEntry, ...]
    complete: bool  # False when max_pages ended the read before the last page
    pages: int


class AuditLogClient:
    """Reads one account's audit log with one token (the inventory's audit_token)."""

    def __init__(self, *, base_url: str, token: SecretStr, token_name: str, account_id: str,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy = RetryPolicy(),  # noqa: B008
                 timeout: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._token, self.token_name, self.account_id = token, token_name, account_id
        self._clock = clock
        self._retry = retry
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"AuditLogClient(account_id={self.account_id!r}, token_name={self.token_name!r})"

    def __enter__(self) -> AuditLogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def read(self, *, since: datetime, before: datetime, filters: dict[str, list[str]] | None = None,
             direction: str = "desc", max_pages: int = MAX_PAGES, page_size: int = PAGE_SIZE,
             budget_seconds: float = BUDGET_SECONDS) -> AuditRead:
        """Every entry in [since, before) matching `filters` (names as Cloudflare's, `.not` for exclusions)."""
        entries: list[AuditEntry] = []
        cursor, pages, started = None, 0, self._clock()
        while pages < max_pages and (pages == 0 or self._clock() - started < budget_seconds):
            params: list[tuple[str, str]] = [("since", _stamp(since)), ("before", _stamp(before)),
                                             ("direction", direction), ("limit", str(page_size))]
            params += [(name, value) for name, values in (filters or {}).items() for value in values]
            if cursor:
                params.append(("cursor", cursor))
            body = self._page(params)
            pages += 1
            items = body.get("result") if isinstance(body.get("result"), list) else []
            entries += [entry for entry in map(parse_entry, items) if entry is not None]
            cursor = next_cursor(body.get("result_info"))
            if not cursor or not items:
                return AuditRead(tuple(entries), True, pages)
        return AuditRead(tuple(entries), False, pages)

    def _page(self, params: list[tuple[str, str]]) -> dict:
        path = f"/accounts/{quote(self.account_id, safe='')}/logs/audit"
        response = send(self._http, SERVICE, "GET", path, idempotent=True, policy=self._retry, params=params,
                        headers={"Authorization": f"Bearer {self._token.get_secret_value()}"})
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.is_success and body.get("success") is True:
            return body
        code, message = _first_error(body)
        log.info("cloudflare audit log answered HTTP %s code %s", response.status_code, code)
        said = f"{message} (HTTP {response.status_code}, code {code})"
        if response.status_code == 401 or code == 1000:
            raise AuditLogUnavailable(f"Cloudflare refused the audit token {self.token_name}: {said}",
                                      service=SERVICE)
        if response.status_code == 403:
            raise AuditLogUnavailable(f"the audit token {self.token_name} may not read the audit log of account "
                                      f"{self.account_id}: {said}; it needs Account Settings Read",
                                      service=SERVICE)
        if response.status_code == 404:
            raise AuditLogUnavailable(f"Cloudflare has no audit log for account {self.account_id}: {said}; check "
                                      "the inventory's account_id", service=SERVICE)
        raise UnexpectedResponse(f"Cloudflare answered the audit log read with {said}", service=SERVICE)


def next_cursor(info: object) -> str | None:
    """The next page's cursor in either form Cloudflare's SDKs read: cursors.after (5.9) or cursor (4.3)."""
    if not isinstance(info, dict):
        return None
    cursors = info.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    found = after or info.get("cursor")
    return found if isinstance(found, str) and found else None


def _first_error(body: dict) -> tuple[int | None, str]:
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("code")
    return (code if isinstance(code, int) else None), str(first.get("message") or "no error message")[:200]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
