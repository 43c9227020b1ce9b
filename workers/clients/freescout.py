"""FreeScout client: open the incident conversation for a revoked token, add notes, find an existing one, and
look up the mailbox and the note author (for `cftoken check`).

Creating is never retried here (a blind repeat could open a second ticket); the caller asks
`find_by_subject` first, so a retried revoke opens its ticket exactly once. Everything else goes through the
shared retry policy. The API key travels only in the `X-FreeScout-API-Key` header. Notes are written by
`user_id` (FREESCOUT_USER_ID): FreeScout refuses a note without an existing user, and deletes the conversation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from domain.errors import CftokenError, TicketError, UnexpectedResponse
from workers.clients.http import RetryPolicy, send

log = logging.getLogger(__name__)

SERVICE = "freescout"
PAGE_SIZE = 100
TAGS_MODULE_ABSENT = "Tags module"
DELETED = "deleted"  # a conversation's `state` once an agent deletes it (draft, published, deleted)


class Ticket(BaseModel):
    """A FreeScout conversation as the bot refers to it."""

    model_config = ConfigDict(frozen=True)

    id: int
    number: int | None = None
    url: str
    subject: str


class FreeScoutClient:
    """The few FreeScout API calls the bot makes, with typed results and errors."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        mailbox_id: int,
        user_id: int,
        customer_email: str = "sre-bot@cftoken.invalid",
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mailbox_id = mailbox_id
        self.user_id = user_id
        self.customer_email = customer_email
        self._retry = retry
        self._http = httpx.Client(
            base_url=f"{self.base_url}/api",
            headers={"X-FreeScout-API-Key": api_key.get_secret_value(), "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"FreeScoutClient(base_url={self.base_url!r}, mailbox_id={self.mailbox_id})"

    def __enter__(self) -> FreeScoutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_incident(self, *, subject: str, body: str, tags: list[str]) -> Ticket:
        """Open a conversation with one internal note, then tag it; the POST is sent once only."""
        payload = {
            "type": "email",
            "mailboxId": self.mailbox_id,
            "subject": subject,
            "customer": {"email": self.customer_email},
            "threads": [{"type": "note", "text": body, "user": self.user_id}],
            "imported": False,
            "status": "active",
        }
        response = self._call("POST", "/conversations", "create the incident", idempotent=False, json=payload)
        # the ticket exists now: read what is there leniently rather than fail and invite a duplicate
        ticket = self._ticket(_conversation_id(response), _json(response, strict=False), subject)
        log.info("opened FreeScout conversation %s: %s", ticket.id, subject)
        if tags:
            self._tag(ticket.id, tags)
        return ticket

    def set_tags(self, conversation_id: int, tags: list[str]) -> None:
        """Replace the conversation's tags (FreeScout treats the list as the full set)."""
        self._call("PUT", f"/conversations/{conversation_id}/tags", "set tags", expect=204, json={"tags": tags})

    def add_note(self, conversation_id: int, text: str) -> None:
        """Add an internal note; retried, since a duplicate note is harmless and a lost one is not."""
        payload = {"type": "note", "text": text, "user": self.user_id}
        self._call("POST", f"/conversations/{conversation_id}/threads", "add a note", json=payload)

    def has_note(self, conversation_id: int, marker: str) -> bool:
        """Whether a thread of the conversation already contains `marker` (so a resumed job adds its note once)."""
        data = _json(self._call("GET", f"/conversations/{conversation_id}", "read the conversation", expect=200,
                                params={"embed": "threads"}))
        threads = (data.get("_embedded") or {}).get("threads") or []
        return any(marker in str(thread.get("body") or "") for thread in threads if isinstance(thread, dict))

    def find_by_subject(self, subject: str) -> Ticket | None:
        """The newest conversation in the mailbox with exactly this subject that is not deleted, or None.

        The server filters `subject` with SQL LIKE (a substring, `_` and `%` wildcards), so the exact subject is
        checked here; deleted conversations are listed unless `state` is filtered, so it is asked for published
        ones and their `state` checked too (a server that ignores the filter still cannot hand back a deleted one)."""
        return self._find({"subject": subject, "state": "published"},
                          lambda c: c.get("subject") == subject and c.get("state") != DELETED)

    def mailboxes(self) -> dict[int, str]:
        """Every mailbox the API key sees, id → name."""
        return {int(m["id"]): str(m.get("name", "")) for m in self._all("/mailboxes", "mailboxes") if "id" in m}

    def users(self) -> dict[int, str]:
        """Every user (agent) the API key sees, id → email."""
        return {int(u["id"]): str(u.get("email", "")) for u in self._all("/users", "users") if "id" in u}

    def _tag(self, conversation_id: int, tags: list[str]) -> None:
        """Tag a just-created ticket; a failure is logged, not raised, because the ticket already exists."""
        try:
            self.set_tags(conversation_id, tags)
        except CftokenError as exc:
            if TAGS_MODULE_ABSENT in str(exc):
                log.warning("FreeScout conversation %s left untagged: the Tags module is not active", conversation_id)
            else:
                log.warning("FreeScout conversation %s left untagged: %s", conversation_id, exc)

    def _all(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a paged lookup list."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = _json(self._call("GET", path, f"list {key}", expect=200, params={"page": str(page)}))
            found = (data.get("_embedded") or {}).get(key) or []
            items += [item for item in found if isinstance(item, dict)]
            total_pages = _int((data.get("page") or {}).get("totalPages")) or 1
            if not found or page >= total_pages:
                return items
            page += 1

    def _find(self, params: dict[str, str], matches: Callable[[dict[str, Any]], bool]) -> Ticket | None:
        """Walk every page of the mailbox's conversations (newest first) until one matches."""
        page = 1
        while True:
            query = {"mailboxId": str(self.mailbox_id), "page": str(page), "pageSize": str(PAGE_SIZE), **params}
            data = _json(self._call("GET", "/conversations", "list conversations", expect=200, params=query))
            conversations = data.get("_embedded", {}).get("conversations") or []
            for conversation in conversations:
                if matches(conversation):
                    return self._ticket(conversation.get("id"), conversation, conversation.get("subject", ""))
            total_pages = _int((data.get("page") or {}).get("totalPages")) or 1
            if not conversations or page >= total_pages:
                return None
            page += 1

    def _ticket(self, conversation_id: Any, entity: dict[str, Any], subject: str) -> Ticket:
        ticket_id = _int(conversation_id)
        if ticket_id is None:
            raise UnexpectedResponse("FreeScout answered without a conversation id", service=SERVICE)
        number = _int(entity.get("number"))
        return Ticket(id=ticket_id, number=number, url=f"{self.base_url}/conversation/{ticket_id}", subject=subject)

    def _call(
        self, method: str, path: str, action: str, *, idempotent: bool = True, expect: int = 201, **kwargs: Any
    ) -> httpx.Response:
        response = send(self._http, SERVICE, method, path, idempotent=idempotent, policy=self._retry, **kwargs)
        if response.status_code != expect:
            raise _refusal(response, action)
        return response


def _refusal(response: httpx.Response, action: str) -> CftokenError:
    """Turn a non-success answer (429 and 5xx are already handled by send) into a typed error."""
    status = response.status_code
    if status == 401:
        return TicketError("FreeScout rejected the API key: check FREESCOUT_API_KEY", service=SERVICE)
    body = _json(response, strict=False)
    message = str(body.get("message") or f"HTTP {status}")
    if status == 400:
        errors = (body.get("_embedded") or {}).get("errors") or []
        fields = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        return TicketError(f"FreeScout refused to {action}: {fields or message}", service=SERVICE)
    if status == 403:
        return TicketError(f"FreeScout denied the bot access: cannot {action}", service=SERVICE)
    if status == 404:
        return TicketError(f"FreeScout could not {action}: conversation not found", service=SERVICE)
    return UnexpectedResponse(f"FreeScout answered HTTP {status} when asked to {action}", service=SERVICE)


def _conversation_id(response: httpx.Response) -> Any:
    """The new id from `Resource-ID` (the contract's promise), else the body's `id`."""
    return response.headers.get("resource-id") or _json(response, strict=False).get("id")


def _json(response: httpx.Response, *, strict: bool = True) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    if strict:
        raise UnexpectedResponse(f"FreeScout answered HTTP {response.status_code} without a JSON object",
                                 service=SERVICE)
    return {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
