"""Cloudflare stand-in's Audit Logs v2: `GET /accounts/{account_id}/logs/audit` (api-contracts.md "Audit Logs v2").

Every write made at the stand-in (create, update, delete: POST, PUT, PATCH, DELETE) is recorded with its actor:
by an API token (`actor.context` "api_token", its id and name), or by a person in the dashboard (a dashboard
session, `actor.context` "dash", their email and IP). Reads are not recorded, as Cloudflare does not capture
`view` actions. Tests seed entries too (a token's DNS record updates from several IPs).

The query is as strict as Cloudflare's: `since` and `before` are required (a date `2019-04-30`, read as UTC, or an
RFC3339 timestamp), `direction` asc|desc, `limit` 1..1000, an opaque `cursor`; every filter both as Cloudflare's
SDK sends it (`actor_token_id.not=…`, repeatable) and positively (`actor_token_id=…`, repeatable; UNVERIFIED at
Cloudflare, so both are served). Paging emits both `result_info.cursor` (the docs, SDK 4.3) and
`result_info.cursors.after` (SDK 5.9) while more entries follow, and neither on the last page. A refusal's code
(1001) is the stand-in's choice: Cloudflare's is unconfirmed. Plain functions over plain dicts; the stand-in
holds the lock and the route.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standins.base import Request, Response, iso

# Account Settings Read / Write: the stand-in's own ids (Cloudflare's are read from the permission group list).
ACCOUNT_SETTINGS_READ = "c1fde68c7bcc44588cbb6ddbc16d6480"
ACCOUNT_SETTINGS_WRITE = "1af1fa2adc104452b74a9a3364202f20"
PERMISSION_GROUPS = (
    ("Account Settings Read", ACCOUNT_SETTINGS_READ, ("com.cloudflare.api.account",)),
    ("Account Settings Write", ACCOUNT_SETTINGS_WRITE, ("com.cloudflare.api.account",)),
)
NEEDS = (ACCOUNT_SETTINGS_READ, ACCOUNT_SETTINGS_WRITE)
WRITES = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
API = "/client/v4"
DEFAULT_ACCOUNT = "01a7362d577a6c3019a474fd6f485823"  # the stand-in's zones' account unless a test names another
FILTERS: dict[str, tuple[str, ...]] = {
    "id": ("id",), "audit_log_id": ("id",), "account_name": ("account", "name"),
    "action_result": ("action", "result"), "action_type": ("action", "type"),
    "actor_context": ("actor", "context"), "actor_email": ("actor", "email"), "actor_id": ("actor", "id"),
    "actor_ip_address": ("actor", "ip_address"), "actor_token_id": ("actor", "token_id"),
    "actor_token_name": ("actor", "token_name"), "actor_type": ("actor", "type"),
    "raw_cf_ray_id": ("raw", "cf_ray_id"), "raw_method": ("raw", "method"), "raw_status_code": ("raw", "status_code"),
    "raw_uri": ("raw", "uri"), "resource_id": ("resource", "id"), "resource_product": ("resource", "product"),
    "resource_scope": ("_scope",), "resource_type": ("resource", "type"),
    "zone_id": ("zone", "id"), "zone_name": ("zone", "name"),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TOKEN_PATH = re.compile(r"^/(?:user|accounts/[^/]+)/tokens(?:/(?P<token_id>[^/]+))?(?P<value>/value)?$")


class AuditRefusal(Exception):
    """A query Cloudflare refuses: 400 with the error's code and message."""

    def __init__(self, message: str, code: int = 1001) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Actor:
    """Who made a write: an API token (`token`: the stand-in's token record) or a person in the dashboard."""

    email: str | None
    ip: str
    token_id: str | None = None
    token_name: str | None = None
    kind: str = "user"  # actor.type: user, or account (an account API token)
    user_id: str = ""

    @property
    def context(self) -> str:
        return "api_token" if self.token_id else "dash"


def entry(actor: Actor, *, method: str, uri: str, status: int, at: datetime, account_id: str, scope: str,
          resource_type: str, resource_id: str = "", product: str = "", zone: tuple[str, str] | None = None,
          description: str = "", request: dict[str, Any] | None = None) -> dict[str, Any]:
    """One audit log entry as Cloudflare shows it (plus the stand-in's `_time` and `_scope` for queries)."""
    action = WRITES.get(method.upper(), "view")
    found: dict[str, Any] = {
        "id": secrets.token_hex(16),
        "account": {"id": account_id, "name": "Stand-in account"},
        "action": {"description": description or f"{action.capitalize()} {resource_type}",
                   "result": "success" if 200 <= status < 300 else "failure", "time": iso(at), "type": action},
        "actor": {"id": actor.user_id or secrets.token_hex(16), "context": actor.context,
                  "ip_address": actor.ip, "type": actor.kind,
                  **({"email": actor.email} if actor.email else {}),
                  **({"token_id": actor.token_id, "token_name": actor.token_name} if actor.token_id else {})},
        "raw": {"cf_ray_id": secrets.token_hex(8), "method": method.upper(), "status_code": status, "uri": uri,
                "user_agent": "python-httpx" if actor.token_id else "Mozilla/5.0 (dashboard)"},
        "resource": {"id": resource_id, "product": product, "request": request or {}, "response": {},
                     "scope": {"type": scope}, "type": resource_type},
        "_time": at.astimezone(UTC), "_scope": scope,
    }
    if zone is not None:
        found["zone"] = {"id": zone[0], "name": zone[1]}
    return found


def token_write(actor: Actor, *, method: str, uri: str, status: int, at: datetime, account_id: str,
                body: Any, result: Any) -> dict[str, Any] | None:
    """The entry a write to a token path leaves (None for any other path): the token's id (the created one's from
    the answer) and, for a create or update, the name sent; never a value (a roll's answer is not kept)."""
    match = _TOKEN_PATH.match(uri)
    if match is None or method.upper() not in WRITES:
        return None
    token_id = match["token_id"] or (result.get("id") if isinstance(result, dict) else None) or ""
    name = body.get("name") if isinstance(body, dict) and isinstance(body.get("name"), str) else None
    what = ("Roll API token" if match["value"] else
            {"POST": "Create API token", "DELETE": "Delete API token"}.get(method.upper(), "Update API token"))
    return entry(actor, method=method, uri=uri, status=status, at=at, account_id=account_id,
                 scope="user" if uri.startswith("/user/") else "accounts", resource_type="token",
                 resource_id=token_id, product="api_tokens", description=what,
                 request={"name": name} if name and method.upper() != "DELETE" else None)


def query(entries: list[dict[str, Any]], account_id: str, args: dict[str, list[str]], *,
          positive_filters: bool = True) -> tuple[list, dict]:
    """One page of `account_id`'s log (its own entries and its users' profile activity) and its result_info;
    AuditRefusal for what Cloudflare refuses. `positive_filters=False` ignores `name=value` filters (only `.not`
    ones apply), as Cloudflare may: its SDK models only the exclusion form."""
    since, before = _moment(args, "since"), _moment(args, "before")
    if since >= before:
        raise AuditRefusal("since must be earlier than before")
    direction = _one(args, "direction") or "desc"
    if direction not in ("asc", "desc"):
        raise AuditRefusal("direction must be asc or desc")
    limit = _int(_one(args, "limit"), DEFAULT_LIMIT, "limit", 1, MAX_LIMIT)
    offset = _offset(_one(args, "cursor"))
    kept = [item for item in entries
            if (item["account"]["id"] == account_id or item["_scope"] == "user")
            and since <= item["_time"] < before and _passes(item, args, positive_filters)]
    kept.sort(key=lambda item: item["_time"], reverse=direction == "desc")
    chunk = kept[offset: offset + limit]
    info: dict[str, Any] = {"count": str(len(chunk))}
    if offset + limit < len(kept):
        cursor = base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode().rstrip("=")
        info.update(cursor=cursor, cursors={"after": cursor})
    return [public(item) for item in chunk], info


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}


def _passes(item: dict[str, Any], args: dict[str, list[str]], positive: bool = True) -> bool:
    for name, path in FILTERS.items():
        value = _at(item, path)
        wanted, unwanted = args.get(name) if positive else None, args.get(name + ".not")
        if wanted and value not in wanted:
            return False
        if unwanted and value in unwanted:
            return False
    return True


def _at(item: dict[str, Any], path: tuple[str, ...]) -> str | None:
    found: Any = item
    for part in path:
        found = found.get(part) if isinstance(found, dict) else None
    return None if found is None else str(found)


def _one(args: dict[str, list[str]], name: str) -> str | None:
    values = args.get(name)
    return values[0] if values else None


def _moment(args: dict[str, list[str]], name: str) -> datetime:
    value = _one(args, name)
    if not value:
        raise AuditRefusal(f"{name}: required (a date such as 2019-04-30 or an RFC3339 timestamp)")
    try:
        if _DATE.match(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        if _RFC3339.match(value):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        pass
    raise AuditRefusal(f"{name}: {value!r} is neither a date (2019-04-30) nor an RFC3339 timestamp")


def _int(value: str | None, default: int, name: str, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise AuditRefusal(f"{name}: must be an integer") from None
    if not low <= number <= high:
        raise AuditRefusal(f"{name}: must be between {low} and {high}")
    return number


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = text.partition(":")
        if kind == "o" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise AuditRefusal("cursor: invalid cursor")


def seeded(token_id: str, token_name: str, *, at: datetime, ip: str, account_id: str, zone: tuple[str, str],
           resource_type: str = "dns.record", method: str = "PATCH", status: int = 200,
           email: str | None = None) -> dict[str, Any]:
    """An entry a test seeds: a write made with the token (e.g. a DNS record update on a zone) from `ip`."""
    actor = Actor(email=email, ip=ip, token_id=token_id, token_name=token_name)
    kind = resource_type.split(".", 1)[0]
    uri = f"/zones/{zone[0]}/{'dns_records' if kind == 'dns' else 'rulesets'}/{secrets.token_hex(16)}"
    return entry(actor, method=method, uri=uri, status=status, at=at, account_id=account_id, scope="zones",
                 resource_type=resource_type, resource_id=secrets.token_hex(16),
                 product="dns_records" if kind == "dns" else "waf", zone=zone)


def session_caller(actor: Actor, user_resource: str) -> dict[str, Any]:
    """The caller a dashboard session authenticates as: a person who may manage every token and read the log."""
    from standins.cloudflare_state import ACCOUNT_TOKENS_WRITE, TOKENS_WRITE

    groups = [{"id": group} for group in (ACCOUNT_TOKENS_WRITE, ACCOUNT_SETTINGS_WRITE)]
    return {"id": "dashboard", "name": None, "status": "active", "_session": actor, "last_used_on": None,
            "policies": [{"effect": "allow", "resources": {user_resource: "*"},
                          "permission_groups": [{"id": TOKENS_WRITE}]},
                         {"effect": "allow", "resources": {"com.cloudflare.api.account.*": "*"},
                          "permission_groups": groups}]}


class AuditLogMixin:
    """The audit log on the Cloudflare stand-in: its test controls, its route's handler and the recording of writes
    (the stand-in holds the lock, the clock, the user and `audit_entries`)."""

    lock: Any
    clock: Any
    user_resource: str
    user_email: str
    audit_entries: list[dict[str, Any]]
    _sessions: dict[str, Actor]
    audit_positive_filters = True  # test control: False ignores `name=value` filters, as Cloudflare may

    def dashboard_session(self, email: str, *, ip: str = "203.0.113.7") -> str:
        """Test and world control: a bearer standing for a person signed in to the dashboard (every write they make
        is recorded with context "dash", their email and IP, no token); it can manage every token."""
        value = "dash_" + secrets.token_hex(16)
        with self.lock:
            self._sessions[value] = Actor(email=email, ip=ip, user_id=self.user_resource.rsplit(".", 1)[-1])
        return value

    def seed_audit(self, *entries: dict[str, Any]) -> None:
        """Test control: add entries (`seeded`) to the audit log."""
        with self.lock:
            self.audit_entries.extend(entries)

    def _audit_log(self, request: Request, caller: dict[str, Any]) -> Response:
        """GET /accounts/{id}/logs/audit: one page of the account's writes (needs Account Settings Read)."""
        try:
            result, info = query(self.audit_entries, request.params["account_id"], request.query,
                                 positive_filters=self.audit_positive_filters)
        except AuditRefusal as refusal:
            return Response(400, {"success": False, "errors": [{"code": refusal.code, "message": refusal.message}],
                                  "messages": [], "result": None})
        return Response(200, {"success": True, "errors": [], "messages": [], "result": result, "result_info": info})

    def _audit_write(self, request: Request, caller: dict[str, Any], response: Response) -> None:
        """Record an authenticated write (success or failure) with its actor; reads are not recorded."""
        if request.method not in WRITES:
            return
        try:
            body = request.json()
        except ValueError:
            body = None
        result = response.body.get("result") if isinstance(response.body, dict) else None
        actor = caller.get("_session") or Actor(
            email=None if caller.get("_account") else self.user_email,
            ip=request.header("x-forwarded-for") or "127.0.0.1", token_id=caller["id"], token_name=caller["name"],
            kind="account" if caller.get("_account") else "user", user_id=self.user_resource.rsplit(".", 1)[-1])
        uri, now = request.path.removeprefix(API), self.clock.now()
        account = request.params.get("account_id") or caller.get("_account") or DEFAULT_ACCOUNT
        found = token_write(actor, method=request.method, uri=uri, status=response.status, at=now,
                            account_id=account, body=body, result=result)
        self.audit_entries.append(found or entry(actor, method=request.method, uri=uri, status=response.status,
                                                 at=now, account_id=account, scope="accounts", resource_type="other"))
