"""Cloudflare stand-in: user API tokens (verify, list, create, get, update, roll, delete), permission groups and
zones, under `/client/v4` with Cloudflare's envelope, per api-contracts.md §1; account-owned tokens at
`/accounts/{account_id}/tokens…` with the same handlers (api-contracts.md "Account-owned tokens").

Run it alone with a management token (API Tokens Write) and the runbook's zones seeded:

    python -m standins.cloudflare --port 8001

It prints the management token's id and value; point the bot at `<url>/client/v4`.

Decisions where the contract is unconfirmed (tests should not depend on them):
- an unknown token id answers 404 with errors 7003 + 7000;
- a disabled, expired or not-yet-valid token answers like an unknown one: 401 code 1000;
- a missing Authorization header answers 400 code 9106 (observed), a malformed one 400 code 6003 (chain 6111);
- invalid bodies and paging arguments answer 400 code 1001 (code unconfirmed), malformed JSON 400 code 6007;
- `per_page` must be 5..50 (the OpenAPI schema's bounds), default 20; pages past the end are `result: []`;
- `rate_limit` counts requests per user (all tokens here belong to one) in a sliding five-minute window;
- a token reaches `revoked (exposed)` only through `set_status` (Cloudflare's secret scanning), and an active
  token past `expires_on` shows `expired` in list and get;
- the probe endpoints answer 403 9109 for a zone outside the token's resources (or unknown) and 403 10000 for
  a zone it covers without the needed permission group;
- create refusals (api-contracts.md, "Learned since"): a policy carrying an `id` answers Cloudflare's observed
  400 code 1001 "Reusing existing policies is not supported by token creation"; a name over 120 characters (the
  OpenAPI schema's maxLength), a 51st user token (the documented quota of 50), an unknown permission-group id or
  zone id answer 400 code 1001 too (their real codes and wording are unconfirmed);
- account tokens: the path's account id is exactly 32 characters (else 404 7003, no route); a token is seen only
  through its owner's path (404 7003 elsewhere) and verifies only there (401 1000 at the other kind's verify);
  management needs Account API Tokens Read/Write on `com.cloudflare.api.account.<id>` (or `.*`), from a user or
  an account token alike (whether a user token may is unconfirmed); the quota is 500 per account (400 1001, the
  real code unconfirmed); created and rolled values are `cfat_…`, seeded ones whatever the world passes
  (legacy 40-character values included); a token made with a user's token carries `creator_email_at_creation`;
- both lists ignore `name` (SDK 5.9 has no name filter) and unknown parameters, and leave out expired tokens
  unless `include_expired=true`; even then only "recently expired" ones (the docs' words) are listed: expired
  within the last 30 days here (the real window is unconfirmed); GET by id still answers an older one;
- `expires_on`/`not_before` must be RFC 3339 date-times (the OpenAPI `format: date-time`): a date alone is
  refused 400 code 1001 (the real code is unconfirmed);
- a 403 from a token endpoint carries `documentation_url` (since 2026-08);
- `GET /zones/{id}/rulesets/phases/{phase}/entrypoint` answers 404 code 10003 "could not find entrypoint ruleset
  in the {phase} phase" until `set_entrypoint` seeds one (Cloudflare creates it with the phase's first rule; real
  bodies in public reports); a phase outside the OpenAPI enum answers 400 code 1001 (code unconfirmed);
- `GET /zones` lists only zones the calling token's allow policies reach (a zone id, all zones, or an account
  with zone-scoped groups), as Cloudflare filters the list by the token's zone resources.
"""

from __future__ import annotations

import argparse
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from standins import cloudflare_audit as audit
from standins import cloudflare_state as state
from standins.base import Clock, Request, Response, StandIn, _Fault, serve_forever

API = "/client/v4"
_TOKEN = API + r"/user/tokens/(?P<token_id>[^/]+)"
_ACCOUNT_TOKENS = API + r"/accounts/(?P<account_id>[^/]+)/tokens"
_ZONE = API + r"/zones/(?P<zone_id>[^/]+)"
_WINDOW = timedelta(minutes=5)
_INVALID_TOKEN = (1000, "Invalid API Token")
_UNKNOWN = (1099, "stand-in fault: an answer the bot has never met (HTTP {status})")
_MISSING_AUTH = (9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
_FORBIDDEN = (9109, "Unauthorized to access requested resource")
_AUTHENTICATION = (10000, "Authentication error")
_THROTTLED = (971, "Please wait and consider throttling your request speed")
_REUSED_POLICY = (1001, "Reusing existing policies is not supported by token creation")
NAME_MAX = 120
USER_TOKEN_QUOTA = 50
ACCOUNT_TOKEN_QUOTA = 500
_DOCS = "https://developers.cloudflare.com/api/resources/"
Guarded = Callable[[Request, dict[str, Any]], Response]


class _Refusal(Exception):
    """An error answer raised from inside a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def ok(result: Any, *, info: dict[str, Any] | None = None, messages: list[dict] | None = None) -> Response:
    """A success envelope; `result_info` only on list endpoints."""
    body = {"success": True, "errors": [], "messages": messages or [], "result": result}
    return Response(200, body if info is None else {**body, "result_info": info})


def fail(status: int, *errors: tuple[int, str], **extra: Any) -> Response:
    """A failure envelope; `extra` is added to the first error (e.g. error_chain)."""
    items = [{"code": code, "message": message} for code, message in errors]
    items[0].update(extra)
    return Response(status, {"success": False, "errors": items, "messages": [], "result": None})


def _refuse(status: int, *errors: tuple[int, str], **extra: Any) -> _Refusal:
    return _Refusal(fail(status, *errors, **extra))


def _no_such_token(token_id: str) -> _Refusal:
    # The real status for an unknown token id is unconfirmed (400 and 404 both seen for 7003); 404 chosen.
    return _refuse(404, (7003, f"Could not route to /user/tokens/{token_id}, perhaps your object identifier is "
                               "invalid?"), (7000, "No route for that URI"))


class CloudflareStandIn(audit.AuditLogMixin, StandIn):
    name = "cloudflare"

    def __init__(self, clock: Clock | None = None, *, rate_limit: int | None = None) -> None:
        super().__init__(clock)
        self.user_resource = state.USER_RESOURCE + state.new_id()
        self.user_email = "sre-lead@example.test"  # the person whose user tokens these are
        self.reset(rate_limit=rate_limit)
        read, write = (state.TOKENS_READ, state.TOKENS_WRITE), (state.TOKENS_WRITE,)
        # First match wins: the fixed paths come before the {token_id} patterns.
        for method, pattern, handler, needs in (
            ("GET", "/user/tokens/verify", self._verify, None),
            ("GET", "/user/tokens/permission_groups", self._permission_groups, None),
            ("GET", "/zones", self._list_zones, None),
            ("GET", "/user/tokens", self._list, read),
            ("POST", "/user/tokens", self._create, write),
        ):
            self.route(method, API + pattern, self._guard(handler, needs))
        self.route("GET", _ZONE + "/dns_records", self._guard(self._dns_records, None))
        self.route("GET", _ZONE + "/rulesets/phases/(?P<phase>[^/]+)/entrypoint", self._guard(self._entrypoint, None))
        self.route("PUT", _TOKEN + "/value", self._guard(self._roll, write))
        self.route("GET", _TOKEN, self._guard(self._get, read))
        self.route("PUT", _TOKEN, self._guard(self._update, write))
        self.route("DELETE", _TOKEN, self._guard(self._delete, write))
        self._account_routes()
        self.route("GET", API + "/accounts/(?P<account_id>[^/]+)/logs/audit", self._guard(self._audit_log, audit.NEEDS))

    def _account_routes(self) -> None:
        """/accounts/{account_id}/tokens…: the same handlers, needing Account API Tokens Read/Write on the account."""
        read = (state.ACCOUNT_TOKENS_READ, state.ACCOUNT_TOKENS_WRITE)
        write = (state.ACCOUNT_TOKENS_WRITE,)
        one = "/(?P<token_id>[^/]+)"
        for method, suffix, handler, needs in (
            ("GET", "/verify", self._verify, None),
            ("GET", "/permission_groups", self._account_permission_groups, None),
            ("GET", "", self._list, read),
            ("POST", "", self._create, write),
            ("PUT", one + "/value", self._roll, write),
            ("GET", one, self._get, read),
            ("PUT", one, self._update, write),
            ("DELETE", one, self._delete, write),
        ):
            self.route(method, _ACCOUNT_TOKENS + suffix, self._guard(handler, needs))

    def reset(self, *, rate_limit: int | None = None) -> None:
        """Forget every token, zone, request and fault: lets one running server serve many tests."""
        with self.lock:
            self.rate_limit = rate_limit
            self._tokens: dict[str, dict[str, Any]] = {}
            self._values: dict[str, str] = {}  # live value -> token id
            self._issued: list[str] = []  # every value ever issued, live or dead (leak scans)
            self._groups: dict[str, dict[str, Any]] = {}
            self._zones: dict[str, dict[str, Any]] = {}
            self._entrypoints: dict[tuple[str, str], dict[str, Any]] = {}  # (zone id, phase) -> ruleset
            self._hits: dict[str, deque[datetime]] = {}
            self.requests.clear()
            self.faults.clear()
            self.audit_entries: list[dict[str, Any]] = []  # the account's audit log (standins/cloudflare_audit.py)
            self._sessions: dict[str, audit.Actor] = {}  # dashboard session value -> the person using it
            for group_name, group_id, scopes in (*state.DEFAULT_PERMISSION_GROUPS, *audit.PERMISSION_GROUPS):
                self.permission_group(group_name, group_id, scopes)

    def permission_group(self, name: str, group_id: str, scopes: tuple[str, ...] | list[str]) -> None:
        with self.lock:
            self._groups[group_id] = {"id": group_id, "name": name, "scopes": list(scopes)}

    def add_zone(self, name: str, zone_id: str, *, account_id: str = "01a7362d577a6c3019a474fd6f485823") -> None:
        with self.lock:
            self._zones[zone_id] = state.zone_record(name, zone_id, account_id, self.clock.now())

    def set_entrypoint(self, zone_id: str, phase: str = "http_ratelimit",
                       rules: list[dict[str, Any]] | None = None) -> None:
        """World control: the zone's entry point ruleset for `phase`, as its first rule would create it."""
        if phase not in state.PHASES:
            raise ValueError(f"unknown ruleset phase {phase!r}")
        with self.lock:
            self._entrypoints[(zone_id, phase)] = state.entrypoint_record(
                phase, rules if rules is not None else [{"description": "rate limit"}], self.clock.now())

    def add_token(self, name: str, *, policies: list[dict[str, Any]], expires_on: datetime | str | None = None,
                  not_before: datetime | str | None = None, status: str = "active", token_id: str | None = None,
                  value: str | None = None, account_id: str | None = None,
                  creator: dict[str, Any] | None = None) -> tuple[str, str]:
        """Seed a token (owned by `account_id`, else by the user; `creator` adds creator_email_at_creation,
        provisioner_type, provisioner_id to an account token); returns (id, value)."""
        with self.lock:
            record = state.token_record(
                name, state.normalise_policies(policies, self._group_names()), self.clock.now(),
                expires_on=expires_on, not_before=not_before, status=status, token_id=token_id)
            if account_id is not None:
                record.update({"_account": account_id, **(creator or {})})
            return record["id"], self._store(record, value or state.new_value(_prefix(account_id)))

    def value_of(self, token_id: str) -> str | None:
        with self.lock:
            return next((value for value, owner in self._values.items() if owner == token_id), None)

    def issued_values(self) -> list[str]:
        """Every token value this stand-in ever issued, including rolled-away ones (for leak scans)."""
        with self.lock:
            return list(self._issued)

    def token(self, token_id: str) -> dict[str, Any] | None:
        with self.lock:
            record = self._tokens.get(token_id)
            return None if record is None else state.public_token(record, self.clock.now())

    def tokens(self) -> list[dict[str, Any]]:
        with self.lock:
            return [state.public_token(record, self.clock.now()) for record in self._tokens.values()]

    def owned(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """The tokens of the user (None) or of one account, as the owner's list shows them (expired included)."""
        with self.lock:
            return [state.public_token(record, self.clock.now()) for record in self._owned(account_id)]

    def set_status(self, token_id: str, status: str) -> None:
        """Test and world control: any status, including `revoked (exposed)`, which only Cloudflare's secret
        scanning reaches (the API's update refuses it)."""
        if status not in state.ALL_STATUSES:
            raise ValueError(f"unknown token status {status!r}")
        with self.lock:
            self._tokens[token_id]["status"] = status

    def set_policies(self, token_id: str, policies: list[dict[str, Any]]) -> None:
        """World control: replace a token's policies, as someone editing it in the dashboard would."""
        with self.lock:
            record = self._tokens[token_id]
            record["policies"] = state.normalise_policies(policies, self._group_names())
            record["modified_on"] = self.clock.now()

    def set_expiry(self, token_id: str, expires_on: datetime | None) -> None:
        with self.lock:
            self._tokens[token_id]["expires_on"] = expires_on

    def remove(self, token_id: str) -> None:
        with self.lock:
            self._tokens.pop(token_id, None)
            self._values = {value: owner for value, owner in self._values.items() if owner != token_id}

    def fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "429":
            response = fail(429, _THROTTLED)
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if fault.kind.startswith("4"):  # an answer no contract describes, in Cloudflare's envelope
            return fail(int(fault.kind), (_UNKNOWN[0], _UNKNOWN[1].format(status=fault.kind)))
        # 10001, not 10000: 10000 is also Cloudflare's "Authentication error", which means failure mode A.
        return fail(int(fault.kind), (10001, "Internal error"))

    def not_found(self, request: Request) -> Response:
        path = request.path.removeprefix(API)
        return fail(404, (7003, f"Could not route to {path}, perhaps your object identifier is invalid?"),
                    (7000, "No route for that URI"))

    def _group_names(self) -> dict[str, str]:
        return {group_id: group["name"] for group_id, group in self._groups.items()}

    def _store(self, record: dict[str, Any], value: str) -> str:
        self._tokens[record["id"]] = record
        self._values = {v: owner for v, owner in self._values.items() if owner != record["id"]}
        self._values[value] = record["id"]
        self._issued.append(value)
        return value

    def _guard(self, handler: Guarded, needs: tuple[str, ...] | None) -> Callable[[Request], Response]:
        """Authenticate the bearer, count it against the rate limit, check `needs`, then run the handler."""

        def guarded(request: Request) -> Response:
            caller = None
            try:
                account_id = request.params.get("account_id")
                if account_id is not None and len(account_id) != 32:  # the path param is exactly 32 characters
                    return self.not_found(request)
                caller = self._authenticate(request)
                if needs and not state.grants(caller, needs, account_id):
                    # Since 2026-08 a 403 names the documentation of the denied endpoint.
                    raise _refuse(403, _FORBIDDEN, documentation_url=_DOCS + ("accounts/subresources/tokens/"
                                                                             if account_id else "user/"))
                response = handler(request, caller)
            except _Refusal as refusal:
                response = refusal.response
            if caller is not None:
                self._audit_write(request, caller, response)
            return response

        return guarded

    def _authenticate(self, request: Request) -> dict[str, Any]:
        if request.header("authorization") is None:  # cf-terraforming #790: 400 code 9106
            raise _refuse(400, _MISSING_AUTH)
        value = request.bearer()
        if not value or any(ch.isspace() for ch in value):
            raise _refuse(400, (6003, "Invalid request headers"),
                          error_chain=[{"code": 6111, "message": "Invalid format for Authorization header"}])
        now = self.clock.now()
        self._throttle("user", now)  # one limit per user, across all its tokens
        session = self._sessions.get(value)
        if session is not None:
            return audit.session_caller(session, self.user_resource)
        record = self._tokens.get(self._values.get(value, ""))
        if record is None or state.refusal_reason(record, now) is not None:
            raise _refuse(401, _INVALID_TOKEN)
        record["last_used_on"] = now
        return record

    def _throttle(self, key: str, now: datetime) -> None:
        if self.rate_limit is None:
            return
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - _WINDOW:
            hits.popleft()
        if len(hits) >= self.rate_limit:
            wait = math.ceil((hits[0] + _WINDOW - now).total_seconds())
            refusal = _refuse(429, _THROTTLED)
            refusal.response.headers["Retry-After"] = str(max(1, wait))
            raise refusal
        hits.append(now)

    def _verify(self, request: Request, caller: dict[str, Any]) -> Response:
        if caller.get("_account") != request.params.get("account_id"):  # verified at the other kind's endpoint
            raise _refuse(401, _INVALID_TOKEN)
        shown = state.public_token(caller, self.clock.now())
        result = {key: shown[key] for key in ("id", "status", "not_before", "expires_on") if key in shown}
        return ok(result, messages=[{"code": 10000, "message": "This API Token is valid and active", "type": None}])

    def _list(self, request: Request, caller: dict[str, Any]) -> Response:
        """The owner's tokens, ignoring `name` and any other unknown parameter (SDK 5.9 lists no name filter);
        expired ones are left out unless include_expired=true, and then listed only while recently expired."""
        direction, owner = request.arg("direction") or "asc", request.params.get("account_id")
        if direction not in ("asc", "desc"):
            raise _refuse(400, (1001, "direction must be asc or desc"))
        with_expired = (request.arg("include_expired") or "false").lower() == "true"
        now = self.clock.now()
        return _page(request, [state.public_token(record, now) for record in sorted(
            self._owned(owner), key=lambda record: record["issued_on"], reverse=direction == "desc")
            if state.listed(record, now, with_expired=with_expired)])

    def _owned(self, account_id: str | None) -> list[dict[str, Any]]:
        """The tokens of the user (None) or of one account."""
        return [record for record in self._tokens.values() if record.get("_account") == account_id]

    def _get(self, request: Request, caller: dict[str, Any]) -> Response:
        return ok(state.public_token(self._record(request), self.clock.now()))

    def _create(self, request: Request, caller: dict[str, Any]) -> Response:
        body, account_id = _body(request), request.params.get("account_id")
        self._refuse_create(body, account_id)
        record = _valid(lambda: state.token_record(
            body.get("name"), state.normalise_policies(body.get("policies"), self._group_names()),
            self.clock.now(), not_before=body.get("not_before"), expires_on=body.get("expires_on"),
            condition=body.get("condition")))
        if account_id is not None:
            record["_account"] = account_id
            if caller.get("_account") is None:  # made by a person's token: Cloudflare keeps their email
                record["creator_email_at_creation"] = self.user_email
        value = self._store(record, state.new_value(_prefix(account_id)))
        return ok({**state.public_token(record, self.clock.now()), "value": value})

    def _refuse_create(self, body: dict[str, Any], account_id: str | None) -> None:
        """What POST /user/tokens (or /accounts/{id}/tokens) refuses before it validates the rest: reused
        policies, long names, the owner's quota, permission groups and zones that do not exist."""
        policies = body.get("policies") if isinstance(body.get("policies"), list) else []
        if any(isinstance(item, dict) and "id" in item for item in policies):
            raise _refuse(400, _REUSED_POLICY)
        name = body.get("name")
        if isinstance(name, str) and len(name) > NAME_MAX:
            raise _refuse(400, (1001, f"name: must be at most {NAME_MAX} characters"))
        quota, whose = (USER_TOKEN_QUOTA, "user") if account_id is None else (ACCOUNT_TOKEN_QUOTA, "account")
        if len(self._owned(account_id)) >= quota:
            raise _refuse(400, (1001, f"You have reached the maximum of {quota} API tokens for this {whose}"))
        for item in (p for p in policies if isinstance(p, dict)):
            for group in item.get("permission_groups") or []:
                group_id = group.get("id") if isinstance(group, dict) else None
                if isinstance(group_id, str) and group_id not in self._groups:
                    raise _refuse(400, (1001, f"Permission group {group_id} does not exist"))
            resources = item.get("resources") if isinstance(item.get("resources"), dict) else {}
            for zone_id in state.zone_ids_in(resources):
                if zone_id not in self._zones:
                    raise _refuse(400, (1001, f"Zone {zone_id} does not exist or is not accessible"))

    def _update(self, request: Request, caller: dict[str, Any]) -> Response:
        record, body = self._record(request), _body(request)
        if "status" not in body:
            raise _refuse(400, (1001, "status: required"))
        replaced = _valid(lambda: state.token_record(
            body.get("name"), state.normalise_policies(body.get("policies"), self._group_names()),
            self.clock.now(), token_id=record["id"], status=body["status"], not_before=body.get("not_before"),
            expires_on=body.get("expires_on"), condition=body.get("condition")))
        record.update({key: replaced[key] for key in ("name", "status", "not_before", "expires_on", "policies",
                                                      "condition", "modified_on")})
        return ok(state.public_token(record, self.clock.now()))

    def _roll(self, request: Request, caller: dict[str, Any]) -> Response:
        """A new scannable value, even for a legacy token; the body may be empty, {} or any JSON (SDKs differ)."""
        record = self._record(request)
        try:
            request.json()
        except ValueError:
            raise _refuse(400, (6007, "Malformed JSON in request body")) from None
        record["modified_on"] = self.clock.now()
        return ok(self._store(record, state.new_value(_prefix(record.get("_account")))))

    def _delete(self, request: Request, caller: dict[str, Any]) -> Response:
        record = self._record(request)
        self.remove(record["id"])
        return ok({"id": record["id"]})

    def _dns_records(self, request: Request, caller: dict[str, Any]) -> Response:
        """GET /zones/{zone_id}/dns_records: DNS Read or Write on that zone, else 403 (9109 zone, 10000 group)."""
        self._zone_check(request, caller, state.DNS_READERS)
        try:
            page, per_page = int(request.arg("page", "1") or 1), int(request.arg("per_page", "100") or 100)
        except ValueError:
            raise _refuse(400, (1001, "page and per_page must be integers")) from None
        if page < 1 or not 1 <= per_page <= 5_000_000:
            raise _refuse(400, (1001, "page must be at least 1 and per_page between 1 and 5000000"))
        return ok([], info={"page": page, "per_page": per_page, "count": 0, "total_count": 0, "total_pages": 0})

    def _entrypoint(self, request: Request, caller: dict[str, Any]) -> Response:
        """GET /zones/{zone_id}/rulesets/phases/{phase}/entrypoint: Zone WAF Read or Write on that zone; 404 10003
        while the zone has no rule in that phase."""
        phase = request.params["phase"]
        if phase not in state.PHASES:
            raise _refuse(400, (1001, f"phase: '{phase}' is not a valid ruleset phase"))
        zone = self._zone_check(request, caller, state.WAF_READERS)
        found = self._entrypoints.get((zone["id"], phase))
        if found is None:
            raise _refuse(404, (10003, f"could not find entrypoint ruleset in the {phase} phase"))
        return ok(found)

    def _zone_check(self, request: Request, caller: dict[str, Any], groups: tuple[str, ...]) -> dict[str, Any]:
        zone = self._zones.get(request.params["zone_id"])
        # An unknown zone and a zone outside the token's resources answer alike: Cloudflare does not say which.
        denied = "zone" if zone is None else state.zone_access(caller, zone["id"], zone["account"]["id"], groups)
        if denied == "zone":
            raise _refuse(403, _FORBIDDEN)
        if denied == "permission":
            raise _refuse(403, _AUTHENTICATION)
        assert zone is not None
        return zone

    def _permission_groups(self, request: Request, caller: dict[str, Any]) -> Response:
        name, scope = request.arg("name"), request.arg("scope")
        found = [group for group in self._groups.values()
                 if name in (None, group["name"]) and (scope is None or scope in group["scopes"])]
        return ok(found)

    def _list_zones(self, request: Request, caller: dict[str, Any]) -> Response:
        name = request.arg("name")
        scopes = {group_id: group["scopes"] for group_id, group in self._groups.items()}
        return _page(request, [zone for zone in self._zones.values() if name in (None, zone["name"])
                               and state.may_read_zone(caller, zone, scopes)])

    def _account_permission_groups(self, request: Request, caller: dict[str, Any]) -> Response:
        """GET /accounts/{id}/tokens/permission_groups: one page, each group with its category and scopes."""
        name, scope = request.arg("name"), request.arg("scope")
        return ok([{"id": group["id"], "name": group["name"], "category": state.category(group["name"]),
                    "is_selectable": True, "scopes": group["scopes"]}
                   for group in self._groups.values()
                   if name in (None, group["name"]) and (scope is None or scope in group["scopes"])])

    def _record(self, request: Request) -> dict[str, Any]:
        """The token the path names, if the path's owner (the user, or that account) owns it."""
        record = self._tokens.get(request.params["token_id"])
        if record is None or record.get("_account") != request.params.get("account_id"):
            raise _no_such_token(request.params["token_id"])
        return record


def _prefix(account_id: str | None) -> str:
    return "cfut_" if account_id is None else "cfat_"


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _refuse(400, (6007, "Malformed JSON in request body"))
    return body


def _valid(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return build()
    except state.Invalid as exc:
        raise _refuse(400, (1001, str(exc))) from None


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    """One page of `items` with result_info; pages past the end have an empty result."""
    try:
        page, per_page = int(request.arg("page", "1") or 1), int(request.arg("per_page", "20") or 20)
    except ValueError:
        raise _refuse(400, (1001, "page and per_page must be integers")) from None
    if page < 1 or not 5 <= per_page <= 50:
        raise _refuse(400, (1001, "page must be at least 1 and per_page between 5 and 50"))
    chunk = items[(page - 1) * per_page: page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": len(items),
            "total_pages": math.ceil(len(items) / per_page)}
    return ok(chunk, info=info)


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground with a management token and the runbook's zones."""
    parser = argparse.ArgumentParser(description="Cloudflare stand-in")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per 5 minutes per token")
    args = parser.parse_args(argv)
    standin = CloudflareStandIn(rate_limit=args.rate_limit)
    for zone, zone_id in (("raxx.app", "f12dbb5cac57d5591a5058874498a6d1"),
                          ("getraxx.com", "0bdcee38d1da2d021eb6166f0bd6204f"),
                          ("raxx.io", "f3d1b89d86d1aa63a003f2826a8f841c")):
        standin.add_zone(zone, zone_id)
    token_id, value = standin.add_token(
        "CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE, resource=standin.user_resource)])
    print(f"management token {token_id}: {value}", flush=True)
    serve_forever(standin, args.port)


if __name__ == "__main__":
    main()
