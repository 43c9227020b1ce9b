r"""Infisical stand-in: Universal Auth login, the v4 and the deprecated v3-raw secrets API (contracts §2).

Run it alone, with one machine identity seeded (these are the defaults):

    python -m standins.infisical --port 8002 --client-id local-id --client-secret local-secret \
        --project-id proj-local

Errors use Infisical's error-handler shape `{reqId, statusCode, message, error}`. Access tokens expire after
`token_ttl` seconds of `self.clock` (403 TokenError; a TTL of 0 never expires, as Infisical signs such a token
without an expiry) and stop working after `revoke_access_tokens()` (401). Login limits (lockout, a client secret's
use limit and TTL) are standins/infisical_auth.py's.

Folders and environments exist only once made: each project has Infisical's default environments (dev, staging,
prod) with their root folder; `add_folder` (and the seeding `put_secret`) make a folder and its parents. A write or
a read by name into a folder or environment that does not exist answers 404 "Folder with path '…' in environment
with slug '…' not found", its `error` naming the operation for writes (CreateSecret, UpdateSecret, DeleteSecret;
NotFound for the read, whose name is unverified); listing one answers 200 with nothing in it, as Infisical does.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from standins.base import Clock, Request, Response, StandIn, _Fault, serve_forever
from standins.infisical_auth import Identity, IdentityStore, LoginRefused
from standins.infisical_syncs import SecretSyncs
from standins.infisical_webhooks import Webhooks

_BOOL_ARGS = ("viewSecretValue", "expandSecretReferences", "recursive", "include_imports", "includeImports",
              "includePersonalOverrides")
_HIDDEN = "<hidden-by-infisical>"  # the real placeholder is unconfirmed; secretValueHidden is what matters
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")  # what Infisical makes with a new project
_OPERATIONS = {"POST": "CreateSecret", "PATCH": "UpdateSecret", "DELETE": "DeleteSecret", "GET": "NotFound"}


class _Refusal(Exception):
    """An error answer raised from deep inside a handler."""

    def __init__(self, status: int, error: str, message: Any, **extra: Any) -> None:
        super().__init__(status)
        self.response = _error(status, error, message, **extra)


@dataclass(frozen=True)
class _Scope:
    """Where one request points: project, environment, folder, secret name, and its raw arguments."""

    project: str
    env: str
    path: str
    name: str
    args: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return self.project, self.env, self.path

    def flag(self, name: str, default: str) -> bool:
        return str(self.args.get(name, default)) == "true"


def _error(status: int, error: str, message: Any, **extra: Any) -> Response:
    body = {"reqId": f"req-{uuid.uuid4().hex[:14]}", "statusCode": status, "message": message, "error": error}
    return Response(status, {**body, **extra})


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _folder(path: str | None) -> str:
    """Normalise a secret path: leading slash, no trailing slash (the root is '/')."""
    return "/" + (path or "/").strip().strip("/")


def _trim(value: str) -> str:
    """Infisical trims values but keeps one trailing newline if the input ended with one."""
    return value.strip() + "\n" if value.endswith("\n") else value.strip()


class InfisicalStandIn(StandIn):
    name = "infisical"

    def __init__(self, clock: Clock | None = None, *, token_ttl: int = 7200) -> None:
        super().__init__(clock)
        self.token_ttl = token_ttl
        self.auth = IdentityStore()
        self._folders: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        self._held: set[tuple[str, str]] = set()
        self.webhooks = Webhooks()  # secrets.modified, signed, a few seconds after each write (infisical_webhooks.py)
        self.syncs = SecretSyncs(self)  # secret syncs of a folder, auto-synced after each write (infisical_syncs.py)
        self.route("POST", "/api/v1/auth/universal-auth/login", self._login)  # base accepts a trailing slash
        for prefix, project_key in (("/api/v4/secrets", "projectId"), ("/api/v3/secrets/raw", "workspaceId")):
            self.route("GET", prefix, self._guard(self._list, project_key))
            for method, handler in (("GET", self._get), ("POST", self._create), ("PATCH", self._update),
                                    ("DELETE", self._delete)):
                self.route(method, prefix + r"/(?P<name>[^/]+)", self._guard(handler, project_key))

    def add_identity(self, client_id: str, client_secret: str, *, project_id: str, can_read: bool = True,
                     can_write: bool = True) -> None:
        with self.lock:
            self.auth.identities[client_id] = Identity(client_secret, project_id, can_read, can_write)
            for environment in DEFAULT_ENVIRONMENTS:
                self._folders.setdefault((project_id, environment, "/"), {})

    def identity(self, client_id: str) -> Identity:
        """The identity's record (its uses, lock and secret state), for tests to read."""
        with self.lock:
            return self.auth.identities[client_id]

    def limit_client_secret(self, client_id: str, *, uses: int = 0, expires_in: timedelta | None = None) -> None:
        """Give the identity's client secret a use limit (`clientSecretNumUsesLimit`) and/or a TTL from now."""
        with self.lock:
            identity = self.auth.identities[client_id]
            identity.uses_limit = uses
            identity.secret_expires = self.clock.now() + expires_in if expires_in is not None else None

    def new_client_secret(self, client_id: str, secret: str) -> None:
        """An operator made a new client secret (no limits) for the identity."""
        with self.lock:
            identity = self.auth.identities[client_id]
            identity.secret, identity.secret_revoked, identity.uses = secret, False, 0
            identity.uses_limit, identity.secret_expires = 0, None

    def set_write_allowed(self, client_id: str, allowed: bool) -> None:
        with self.lock:
            self.auth.identities[client_id].write = allowed

    def add_folder(self, project_id: str, environment: str, path: str) -> None:
        """Make a folder (and its parents, and the environment if new), as someone would in Infisical's UI."""
        with self.lock:
            self._make_folder(project_id, environment, _folder(path))

    def remove_folder(self, project_id: str, environment: str, path: str) -> None:
        """Delete a folder, its secrets and everything below it."""
        with self.lock:
            top = _folder(path)
            for key in [k for k in self._folders if k[:2] == (project_id, environment)
                        and (k[2] == top or k[2].startswith(top.rstrip("/") + "/"))]:
                del self._folders[key]

    def folder_exists(self, project_id: str, environment: str, path: str) -> bool:
        with self.lock:
            return (project_id, environment, _folder(path)) in self._folders

    def hold_writes(self, project_id: str, environment: str, held: bool = True) -> None:
        """Simulate a secret-approval policy: writes answer 200 {"approval": …} and change nothing."""
        with self.lock:
            (self._held.add if held else self._held.discard)((project_id, environment))

    def revoke_access_tokens(self) -> None:
        with self.lock:
            for token in self.auth.tokens.values():
                token["revoked"] = True

    def access_tokens(self) -> list[str]:
        """Every access token issued so far (tests check none of them leaks)."""
        with self.lock:
            return list(self.auth.tokens)

    def put_secret(self, project_id: str, environment: str, path: str, name: str, value: str) -> dict:
        """Seed one secret, making its folder if need be (the API's writes never make folders)."""
        with self.lock:
            scope = _Scope(project_id, environment, _folder(path), name, {})
            self._make_folder(*scope.key)
            return self._json(self._write(scope, value), scope)

    def secret(self, project_id: str, environment: str, path: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            scope = _Scope(project_id, environment, _folder(path), name, {})
            record = self._folders.get(scope.key, {}).get(name)
            return None if record is None else self._json(record, scope)

    def values(self, project_id: str, environment: str, path: str) -> dict[str, str]:
        with self.lock:
            folder = self._folders.get((project_id, environment, _folder(path)), {})
            return {name: record["values"][-1] for name, record in folder.items()}

    def versions(self, project_id: str, environment: str, path: str, name: str) -> list[str]:
        with self.lock:
            record = self._folders.get((project_id, environment, _folder(path)), {}).get(name)
            return list(record["values"]) if record else []

    def remove_secret(self, project_id: str, environment: str, path: str, name: str) -> None:
        with self.lock:
            self._folders.get((project_id, environment, _folder(path)), {}).pop(name, None)

    def fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "429":
            response = _error(429, "RateLimitExceeded", "Rate limit exceeded. Please try again in a minute")
            response.headers["Retry-After"] = str(fault.retry_after)
            return response
        return _error(int(fault.kind), "InternalServerError", "Something went wrong")

    def not_found(self, request: Request) -> Response:
        """Fastify's own 404 for an unknown route (note: error 'Not Found', unlike a missing secret)."""
        message = f"Route {request.method}:{request.path} not found"
        return Response(404, {"message": message, "error": "Not Found", "statusCode": 404})

    def _json(self, record: dict[str, Any], scope: _Scope, *, view: bool = True, version: int = 0) -> dict:
        number = version or len(record["values"])
        return {
            "id": record["id"], "_id": record["id"], "workspace": scope.project, "environment": scope.env,
            "version": number, "type": "shared", "secretKey": scope.name,
            "secretValue": record["values"][number - 1] if view else _HIDDEN, "secretValueHidden": not view,
            "secretComment": record["comment"], "secretReminderNote": None, "secretReminderRepeatDays": None,
            "skipMultilineEncoding": False, "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"], "secretPath": scope.path, "tags": [], "secretMetadata": [],
            "isRotatedSecret": False, "rotationId": None,
        }

    def _make_folder(self, project: str, environment: str, path: str) -> None:
        parts = [part for part in path.split("/") if part]
        for depth in range(len(parts) + 1):
            self._folders.setdefault((project, environment, "/" + "/".join(parts[:depth])), {})

    def _existing_folder(self, scope: _Scope, method: str) -> dict[str, dict[str, Any]]:
        """The scope's folder, or Infisical's 404 naming the path and environment (and the operation)."""
        folder = self._folders.get(scope.key)
        if folder is None:
            raise _Refusal(404, _OPERATIONS[method], f"Folder with path '{scope.path}' in environment with slug "
                                                     f"'{scope.env}' not found")
        return folder

    def _write(self, scope: _Scope, value: str, comment: str | None = None) -> dict[str, Any]:
        """Create or update one secret; every write is a new version, as in Infisical."""
        now = _stamp(self.clock.now())
        folder = self._folders[scope.key]
        record = folder.setdefault(scope.name, {"id": str(uuid.uuid4()), "values": [], "comment": "",
                                                "createdAt": now})
        record["values"].append(_trim(value))
        record["updatedAt"] = now
        record["comment"] = record["comment"] if comment is None else comment
        self.webhooks.modified(*scope.key)
        self.syncs.modified(*scope.key)
        return record

    def _login(self, request: Request) -> Response:
        body = _json_body(request)
        if body is None:
            return _error(400, "BadRequest", "Body is not valid JSON")
        missing = [key for key in ("clientId", "clientSecret") if not isinstance(body.get(key), str)]
        if missing:
            return _error(422, "ValidationFailure", [_required(key) for key in missing])
        now = self.clock.now()
        try:
            self.auth.login(body["clientId"], body["clientSecret"], now)
        except LoginRefused as refused:
            return _error(refused.status, refused.error, refused.message)
        token = self.auth.issue(body["clientId"], now, self.token_ttl)
        return Response(200, {"accessToken": token, "expiresIn": self.token_ttl,
                              "accessTokenMaxTTL": max(43200, self.token_ttl), "tokenType": "Bearer"})

    def _identity(self, request: Request) -> Identity:
        try:
            return self.auth.holder(request.bearer(), self.clock.now())
        except LoginRefused as refused:
            raise _Refusal(refused.status, refused.error, refused.message) from None

    def _guard(self, handler: Callable[[Identity, _Scope], Response], project_key: str) -> Callable:
        """Authenticate (before validation, as Fastify's onRequest hook does), validate, check the project."""

        def guarded(request: Request) -> Response:
            try:
                identity = self._identity(request)
                scope = _scope(request, project_key)
                if identity.project != scope.project:
                    raise _Refusal(403, "PermissionDenied", "You are not allowed to access this project")
                return handler(identity, scope)
            except _Refusal as refusal:
                return refusal.response

        return guarded

    def _list(self, identity: Identity, scope: _Scope) -> Response:
        view = scope.flag("viewSecretValue", "true")
        _require(identity, "read", "readValue" if view else "describeSecret")
        below = scope.path.rstrip("/") + "/"
        found = []
        for (project, env, path), folder in sorted(self._folders.items()):
            inside = path == scope.path or (scope.flag("recursive", "false") and path.startswith(below))
            if (project, env) == (scope.project, scope.env) and inside:
                found += [self._json(record, _Scope(project, env, path, name, {}), view=view)
                          for name, record in folder.items()]
        return Response(200, {"secrets": found, "imports": []})

    def _get(self, identity: Identity, scope: _Scope) -> Response:
        view = scope.flag("viewSecretValue", "true")
        _require(identity, "read", "readValue" if view else "describeSecret")
        record = self._record(scope)
        version = str(scope.args.get("version") or "0")
        if not version.isdigit() or int(version) > len(record["values"]):
            raise _Refusal(404, "NotFound", f"Secret version '{version}' not found")
        return Response(200, {"secret": self._json(record, scope, view=view, version=int(version))})

    def _create(self, identity: Identity, scope: _Scope) -> Response:
        _require(identity, "write", "create")
        if not isinstance(scope.args.get("secretValue"), str):
            raise _Refusal(422, "ValidationFailure", [_required("secretValue")])
        if scope.name in self._existing_folder(scope, "POST"):
            raise _Refusal(400, "BadRequest", "Secret already exist")
        if scope.key[:2] in self._held:
            return _approval(scope, "create")
        record = self._write(scope, scope.args["secretValue"], scope.args.get("secretComment", ""))
        return Response(200, {"secret": self._json(record, scope)})

    def _update(self, identity: Identity, scope: _Scope) -> Response:
        _require(identity, "write", "edit")
        record = self._record(scope, "PATCH")
        if scope.key[:2] in self._held:
            return _approval(scope, "update")
        value, comment = scope.args.get("secretValue"), scope.args.get("secretComment")
        self._write(scope, value if isinstance(value, str) else record["values"][-1],
                    comment if isinstance(comment, str) else None)
        return Response(200, {"secret": self._json(record, scope)})

    def _delete(self, identity: Identity, scope: _Scope) -> Response:
        _require(identity, "write", "delete")
        record = self._record(scope, "DELETE")
        if scope.key[:2] in self._held:
            return _approval(scope, "delete")
        del self._folders[scope.key][scope.name]
        self.webhooks.modified(*scope.key)
        self.syncs.modified(*scope.key)
        return Response(200, {"secret": self._json(record, scope)})

    def _record(self, scope: _Scope, method: str = "GET") -> dict[str, Any]:
        record = self._existing_folder(scope, method).get(scope.name)
        if record is None:
            where = f"at path '{scope.path}' in environment with slug '{scope.env}'"
            raise _Refusal(404, "NotFound", f"Secret with name '{scope.name}' not found {where}")
        return record


def _scope(request: Request, project_key: str) -> _Scope:
    """Project, environment, path and name from the query (GET) or the JSON body (writes)."""
    if request.method == "GET":
        args: dict[str, Any] | None = {key: values[0] for key, values in request.query.items()}
        bad = [key for key in _BOOL_ARGS if key in args and args[key] not in ("true", "false")]
        if bad:
            raise _Refusal(422, "ValidationFailure", [_bad_bool(key, args[key]) for key in bad])
    else:
        args = _json_body(request)
        if args is None:
            raise _Refusal(400, "BadRequest", "Body is not valid JSON")
    project, env = args.get(project_key), args.get("environment")
    if project_key == "workspaceId" and (not project or not env):  # v3: optional in zod, checked by the router
        raise _Refusal(400, "BadRequest", "Missing project id or environment")
    if not project:
        raise _Refusal(422, "ValidationFailure", [_required(project_key)])
    if not env:  # v4's environment is optional in zod too; the router refuses it (message wording unverified)
        raise _Refusal(400, "BadRequest", "Missing environment")
    name = unquote(request.params.get("name") or "")
    return _Scope(str(project), str(env), _folder(args.get("secretPath")), name, args)


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _require(identity: Identity, kind: str, action: str) -> None:
    """CASL-style permission check: 403 PermissionDenied naming the action."""
    if not getattr(identity, kind):
        raise _Refusal(403, "PermissionDenied", f"You are not allowed to {action} on secrets",
                       details=[{"action": action, "subject": "secrets"}])


def _approval(scope: _Scope, op: str) -> Response:
    return Response(200, {"approval": {"id": str(uuid.uuid4()), "status": "open", "op": op,
                                       "secretKey": scope.name, "environment": scope.env}})


def _required(key: str) -> dict[str, Any]:
    return {"code": "invalid_type", "expected": "string", "received": "undefined", "path": [key],
            "message": "Required"}


def _bad_bool(key: str, value: str) -> dict[str, Any]:
    return {"received": value, "code": "invalid_enum_value", "options": ["true", "false"], "path": [key],
            "message": f"Invalid enum value. Expected 'true' | 'false', received '{value}'"}


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground with one machine identity."""
    parser = argparse.ArgumentParser(description="Infisical stand-in")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--client-id", default="local-id")
    parser.add_argument("--client-secret", default="local-secret")
    parser.add_argument("--project-id", default="proj-local")
    args = parser.parse_args(argv)
    standin = InfisicalStandIn()
    standin.add_identity(args.client_id, args.client_secret, project_id=args.project_id)
    serve_forever(standin, args.port)


if __name__ == "__main__":
    main()
