"""FreeScout stand-in: the "API & Webhooks" module's conversations, threads, tags, mailboxes and users (§3).

Run it alone, with mailbox 1 and user 1 seeded and the API key `freescout-test-key`:

    python -m standins.freescout --port 8003 [--api-key KEY] [--no-tags-module]

Behaviour follows the v1.0.67 module source: required parameters are checked in the module's order (subject, type,
mailboxId, customer, threads) and only the first missing one is reported; a conversation whose threads all fail is
deleted and the thread's error returned (a `note` needs an existing `user`); the list endpoint filters `subject`
with SQL LIKE semantics (`%subject%`, `_` and `%` wildcards, case-insensitive as MySQL's default collation),
ignores `tag` when the Tags module is off, lists deleted conversations (state `deleted`, reached by an agent's
click: `delete_conversation`) as the real one does unless `state` is filtered (`state=published`, a comma list, or
the numbers 1 draft, 2 published, 3 deleted), and answers `page.size` as an integer. Conversation ids,
numbers and thread ids come from separate sequences (1…, 1001…, 101…) so a client that mixes them up is caught.
Timestamps come from `self.clock`.
"""

from __future__ import annotations

import argparse
import copy
import hmac
import itertools
import math
import re
from http import HTTPStatus
from typing import Any

from standins.base import Clock, Handler, Request, Response, StandIn, _Fault, iso, serve_forever

PAGE_SIZE = 50
STATUSES = ("active", "pending", "closed", "spam")
STATES = ("draft", "published", "deleted")
_STATE_NUMBERS = {"1": "draft", "2": "published", "3": "deleted"}
TYPES = ("email", "phone", "chat")
THREAD_TYPES = ("customer", "message", "note")
TAGS_MODULE_ABSENT = "Tags module is not installed or not activated"


class _Refusal(Exception):
    """An error answer raised from deep inside a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _errors(message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"message": message, "_embedded": {"errors": errors or []}}


def _invalid(message: str, path: str) -> _Refusal:
    """The module's getErrorResponse: 400 with one error naming the parameter."""
    error = {"path": path, "message": message, "source": "JSON"}
    return _Refusal(Response(400, _errors("Error occurred", [error])))


def _not_found() -> _Refusal:
    return _Refusal(Response(404, _errors("Not Found")))


def _require(data: dict[str, Any], names: tuple[str, ...]) -> None:
    """The module's checkRequiredParams: key presence only, first missing one wins."""
    for name in names:
        if name not in data:
            raise _invalid(f"`{name}` parameter is required", name)


def _body(request: Request) -> dict[str, Any]:
    """Laravel's $request->all(): a body that is not a JSON object counts as empty."""
    try:
        data = request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _like(value: str) -> re.Pattern[str]:
    """`subject LIKE '%value%'` as MySQL reads it: `%` any run, `_` any one character, `\\` escapes, no case."""
    parts, chars = [], iter(value)
    for char in chars:
        if char == "\\":
            parts.append(re.escape(next(chars, "\\")))
        else:
            parts.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return re.compile(".*" + "".join(parts) + ".*", re.IGNORECASE | re.DOTALL)


def _emails(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _tag_name(value: Any) -> str:
    return str(value).strip().lower()


def _person(record: dict[str, Any], kind: str) -> dict[str, Any]:
    """A user or customer as embedded in conversations and threads."""
    return {"id": record["id"], "type": kind, "firstName": record.get("firstName"),
            "lastName": record.get("lastName"), "email": record.get("email")}


class FreeScoutStandIn(StandIn):
    name = "freescout"

    def __init__(
        self, clock: Clock | None = None, *, api_key: str = "freescout-test-key", tags_module: bool = True
    ) -> None:
        super().__init__(clock)
        self.api_key = api_key
        self.tags_module = tags_module
        self._mailboxes: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._customers: dict[int, dict[str, Any]] = {}
        self._conversations: dict[int, dict[str, Any]] = {}
        self._tag_ids: dict[str, int] = {}
        self.reset()
        self._api("POST", "/conversations", self._create_conversation)
        self._api("GET", "/conversations", self._list_conversations)
        self._api("GET", r"/conversations/(?P<cid>[^/]+)", self._get_conversation)
        self._api("POST", r"/conversations/(?P<cid>[^/]+)/threads", self._create_thread)
        self._api("PUT", r"/conversations/(?P<cid>[^/]+)/tags", self._update_tags)
        self._api("GET", "/mailboxes", self._list_mailboxes)
        self._api("GET", "/users", self._list_users)

    def add_mailbox(self, mailbox_id: int, name: str, email: str) -> None:
        """Seed a mailbox that conversations can be created in."""
        now = iso(self.clock.now())
        with self.lock:
            self._mailboxes[mailbox_id] = {
                "id": mailbox_id, "name": name, "email": email, "createdAt": now, "updatedAt": now,
            }

    def add_user(self, user_id: int, first_name: str, last_name: str, email: str) -> None:
        """Seed a user (agent) who can author notes and replies."""
        now = iso(self.clock.now())
        with self.lock:
            self._users[user_id] = {
                "id": user_id, "firstName": first_name, "lastName": last_name, "email": email, "role": "user",
                "alternateEmails": "", "jobTitle": "", "phone": "", "timezone": "UTC", "photoUrl": "",
                "language": "en", "createdAt": now, "updatedAt": now,
            }

    def reset(self) -> None:
        """Forget conversations, customers, tags, faults and the request log; keep mailboxes and users."""
        with self.lock:
            self._customers.clear()
            self._conversations.clear()
            self._tag_ids.clear()
            self._conversation_ids = itertools.count(1)
            self._numbers = itertools.count(1001)
            self._thread_ids = itertools.count(101)
            self._customer_ids = itertools.count(1)
            self.requests.clear()
        self.faults.clear()

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation as the API renders it, threads and tags embedded, oldest first."""
        with self.lock:
            return [self._entity(c, threads=True, tags=True) for c in sorted(self._conversations.values(),
                                                                              key=lambda c: c["id"])]

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        """One conversation as the API renders it (threads and tags embedded), or None."""
        with self.lock:
            record = self._conversations.get(conversation_id)
            return self._entity(record, threads=True, tags=True) if record else None

    def delete_conversation(self, conversation_id: int) -> None:
        """What an agent's Delete does: the conversation moves to the Deleted folder (state `deleted`), still listed."""
        with self.lock:
            self._conversations[conversation_id]["state"] = "deleted"

    def _api(self, method: str, pattern: str, handler: Handler) -> None:
        """Register an /api route behind the module's ApiAuth middleware."""

        def guarded(request: Request) -> Response:
            # ApiAuth reads `$request->api_key ?? header`: a query key, even a wrong one, wins over the header.
            key = request.arg("api_key")
            if key is None:
                key = request.header("x-freescout-api-key") or ""
            if not key or not hmac.compare_digest(key.encode(), self.api_key.encode()):
                return Response(401, {"message": "Not Authorized"})
            try:
                return handler(request)
            except _Refusal as refusal:
                return refusal.response

        self.route(method, "/api" + pattern, guarded)

    def not_found(self, request: Request) -> Response:
        if any(pattern.match(request.path) for _method, pattern, _handler in self._routes):
            return Response(405, "Method Not Allowed")
        return Response(404, _errors("Not Found"))

    def fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "429":
            return Response(429, {"message": "Too Many Attempts."}, {"Retry-After": str(fault.retry_after)})
        status = int(fault.kind)
        return Response(status, {"message": HTTPStatus(status).phrase})

    def _find(self, request: Request) -> dict[str, Any]:
        record = self._conversations.get(_int(request.params["cid"]) or 0)
        if record is None:
            raise _not_found()
        return record

    def _customer(self, data: Any) -> dict[str, Any]:
        """Find a customer by id, then email; create one if absent (the module's createCustomer rules)."""
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]  # the module's "fix for Zapier"
        if not isinstance(data, dict):
            data = {}
        if data.get("id"):
            found = self._customers.get(_int(data["id"]) or 0)
            if found is None:
                raise _invalid(f"Customer with the following ID not found: {data['id']}", "customer")
            return found
        email = str(data.get("email") or "").strip().lower()
        for customer in self._customers.values():
            if email and customer["email"] == email:
                return customer
        if not email and not data.get("firstName"):
            raise _invalid("Customer first name or email is required.", "customer.first_name")
        customer = {"id": next(self._customer_ids), "firstName": data.get("firstName"),
                    "lastName": data.get("lastName"), "email": email or None}
        self._customers[customer["id"]] = customer
        return customer

    def _add_thread(self, conversation: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """The module's createThread: validate, append, and apply its status rules."""
        _require(data, ("text", "type"))
        kind = data["type"] if data["type"] in THREAD_TYPES else "customer"  # unknown codes fall back
        customer = self._customer(data["customer"]) if data.get("customer") else self._customers[
            conversation["customerId"]]
        user = self._users.get(_int(data.get("user")) or 0) if kind != "customer" else None
        if kind != "customer" and user is None:
            raise _invalid("`user` parameter is required", "user")
        now = iso(self.clock.now())
        author = _person(customer, "customer") if user is None else _person(user, "user")
        thread = {
            "id": next(self._thread_ids), "type": kind, "status": "active", "state": "published", "action": None,
            "body": str(data["text"]), "source": {"type": "api", "via": "customer" if user is None else "user"},
            "customer": _person(customer, "customer"), "createdBy": author, "assignedTo": None,
            "to": [] if user is None else [customer["email"]], "cc": _emails(data.get("cc")),
            "bcc": _emails(data.get("bcc")), "createdAt": now, "openedAt": None,
            "_embedded": {"attachments": []},
        }
        if not conversation["threads"]:
            conversation["createdBy"] = author
        conversation["threads"].append(thread)
        conversation["customerId"] = customer["id"]
        if kind == "customer":
            conversation["customerEmail"] = customer["email"]
        self._apply_status(conversation, kind, data.get("status"), now)
        conversation["updatedAt"] = now
        return thread

    @staticmethod
    def _apply_status(conversation: dict[str, Any], kind: str, status: Any, now: str) -> None:
        """Replies set active (customer) or pending (user) unless a status is given; notes change only if given."""
        if status:
            conversation["status"] = status if status in STATUSES else "active"
        elif kind == "customer":
            conversation["status"] = "active"
        elif kind == "message":
            conversation["status"] = "pending"
        if kind != "customer" and (kind == "message" or status):
            conversation["userUpdatedAt"] = now

    def _entity(self, record: dict[str, Any], *, threads: bool, tags: bool) -> dict[str, Any]:
        customer = self._customers[record["customerId"]]
        assignee = self._users.get(record["assigneeId"] or 0)
        newest = record["threads"][-1] if record["threads"] else None
        embedded: dict[str, Any] = {"threads": list(reversed(record["threads"])) if threads else []}
        if tags:
            embedded["tags"] = [{"id": self._tag_ids[name], "name": name} for name in record["tags"]]
        entity = {
            "id": record["id"], "number": record["number"], "threadsCount": len(record["threads"]),
            "type": record["type"], "folderId": record["mailboxId"] * 10 + 1, "status": record["status"],
            "state": record["state"], "subject": record["subject"], "preview": (newest or {}).get("body", "")[:255],
            "mailboxId": record["mailboxId"], "assignee": _person(assignee, "user") if assignee else None,
            "createdBy": record["createdBy"], "createdAt": record["createdAt"], "updatedAt": record["updatedAt"],
            "closedBy": None, "closedByUser": None, "closedAt": None, "userUpdatedAt": record["userUpdatedAt"],
            "customerWaitingSince": {"time": record["createdAt"], "friendly": "just now",
                                     "latestReplyFrom": (newest or {}).get("source", {}).get("via", "customer")},
            "source": {"type": "api", "via": record["createdBy"]["type"] if record["createdBy"] else "customer"},
            "cc": [], "bcc": [], "customer": _person(customer, "customer"), "customFields": [],
            "_embedded": embedded,
        }
        return copy.deepcopy(entity)

    @staticmethod
    def _page(items: list[dict[str, Any]], request: Request, key: str, page_size: int) -> dict[str, Any]:
        """Laravel's paginate() plus the module's addPageDataToResponse."""
        page = max(_int(request.arg("page")) or 1, 1)
        start = (page - 1) * page_size
        return {
            "_embedded": {key: items[start:start + page_size]},
            "page": {"size": page_size, "totalElements": len(items),
                     "totalPages": max(math.ceil(len(items) / page_size), 1), "number": page},
        }

    def _create_conversation(self, request: Request) -> Response:
        data = _body(request)
        _require(data, ("subject", "type", "mailboxId", "customer", "threads"))
        threads = data["threads"]
        if not isinstance(threads, list) or not all(isinstance(thread, dict) for thread in threads):
            raise _invalid("'threads' parameter must be an array", "threads")
        customer = self._customer(data["customer"])
        mailbox_id = _int(data["mailboxId"])
        if mailbox_id not in self._mailboxes:
            raise _invalid("Mailbox not found", "mailboxId")
        record = self._new_conversation(data, mailbox_id, customer)
        failure: _Refusal | None = None
        for thread in reversed(threads):  # the request lists newest first
            if data.get("status"):
                thread = {**thread, "status": data["status"]}
            try:
                self._add_thread(record, thread)
            except _Refusal as refusal:
                failure = refusal
        if not record["threads"]:
            del self._conversations[record["id"]]
            raise failure or _invalid("Could no create thread(s)", "threads")
        entity = self._entity(record, threads=True, tags=False)
        return Response(201, entity, {"Resource-ID": str(record["id"])})

    def _new_conversation(self, data: dict[str, Any], mailbox_id: int, customer: dict[str, Any]) -> dict[str, Any]:
        now = iso(self.clock.now())
        assignee = _int(data.get("assignTo"))
        record = {
            "id": next(self._conversation_ids), "number": next(self._numbers),
            "type": data["type"] if data["type"] in TYPES else "email",
            "status": data.get("status") if data.get("status") in STATUSES else "active",
            "subject": str(data["subject"]), "mailboxId": mailbox_id, "customerId": customer["id"],
            "customerEmail": customer["email"], "assigneeId": assignee if assignee in self._users else None,
            "createdBy": None, "createdAt": now, "updatedAt": now, "userUpdatedAt": None,
            "imported": bool(data.get("imported", False)), "threads": [], "tags": [], "state": "published",
        }
        self._conversations[record["id"]] = record
        return record

    def _get_conversation(self, request: Request) -> Response:
        record = self._find(request)
        embed = request.arg("embed")
        wanted = embed.split(",") if embed else ["threads"]
        return Response(200, self._entity(record, threads="threads" in wanted, tags="tags" in wanted))

    def _create_thread(self, request: Request) -> Response:
        record = self._find(request)
        thread = self._add_thread(record, _body(request))
        return Response(201, copy.deepcopy(thread), {"Resource-ID": str(thread["id"])})

    def _update_tags(self, request: Request) -> Response:
        if not self.tags_module:
            return Response(400, _errors(TAGS_MODULE_ABSENT))
        record = self._find(request)
        data = _body(request)
        _require(data, ("tags",))
        if not isinstance(data["tags"], list):
            raise _invalid("`tags` parameter must be an array", "tags")  # the module would fail with a 500
        names: list[str] = []
        for value in data["tags"]:
            name = "" if isinstance(value, dict | list) else _tag_name(value)
            if name and name not in names:
                names.append(name)
                self._tag_ids.setdefault(name, len(self._tag_ids) + 1)
        record["tags"] = names
        return Response(204)

    def _list_conversations(self, request: Request) -> Response:
        records = sorted(self._conversations.values(), key=lambda c: (c["createdAt"], c["id"]), reverse=True)
        mailbox_ids = {_int(part) for part in (request.arg("mailboxId") or "").split(",") if part}
        if mailbox_ids:
            records = [c for c in records if c["mailboxId"] in mailbox_ids]
        if request.arg("status") in STATUSES:
            records = [c for c in records if c["status"] == request.arg("status")]
        states = {_STATE_NUMBERS.get(part, part) for part in (request.arg("state") or "").split(",") if part}
        if states & set(STATES):  # unknown state names are ignored, as the module's filter does
            records = [c for c in records if c["state"] in states]
        if request.arg("subject"):
            like = _like(request.arg("subject") or "")
            records = [c for c in records if like.fullmatch(c["subject"])]
        if request.arg("customerEmail"):
            records = [c for c in records if c["customerEmail"] == request.arg("customerEmail")]
        if request.arg("tag") and self.tags_module:  # without the Tags module the filter is silently ignored
            records = [c for c in records if _tag_name(request.arg("tag")) in c["tags"]]
        embeds = (request.arg("embed") or "").split(",")
        entities = [self._entity(c, threads="threads" in embeds, tags="tags" in embeds) for c in records]
        page_size = _int(request.arg("pageSize")) or PAGE_SIZE
        return Response(200, self._page(entities, request, "conversations", max(page_size, 1)))

    def _list_mailboxes(self, request: Request) -> Response:
        mailboxes = [dict(self._mailboxes[key]) for key in sorted(self._mailboxes)]
        return Response(200, self._page(mailboxes, request, "mailboxes", PAGE_SIZE))

    def _list_users(self, request: Request) -> Response:
        users = [dict(self._users[key]) for key in sorted(self._users, reverse=True)]
        if request.arg("email"):
            users = [user for user in users if user["email"] == request.arg("email")]
        return Response(200, self._page(users, request, "users", PAGE_SIZE))


def main() -> None:
    """Run the FreeScout stand-in alone, with mailbox 1 and user 1 seeded."""
    parser = argparse.ArgumentParser(description="FreeScout API stand-in")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--api-key", default="freescout-test-key")
    parser.add_argument("--no-tags-module", action="store_true", help="answer tag updates as without Tags")
    args = parser.parse_args()
    standin = FreeScoutStandIn(api_key=args.api_key, tags_module=not args.no_tags_module)
    standin.add_mailbox(1, "Incidents", "incidents@freescout.invalid")
    standin.add_user(1, "cftoken", "Bot", "cftoken-bot@freescout.invalid")
    serve_forever(standin, args.port)


if __name__ == "__main__":
    main()
