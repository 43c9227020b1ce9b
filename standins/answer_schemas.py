"""Every answer a stand-in gives is checked against the service's own published schema, as the suite runs.

Cloudflare: `standins/schemas/cloudflare-user-tokens.json` is Cloudflare's OpenAPI for the user-token paths, vendored
unchanged from the shared contracts (its own description lists the relaxations made there);
`standins/schemas/cloudflare-hand-written.json` is HAND-WRITTEN from api-contracts.md and the cloudflare-python SDK
types (zones, DNS records, the rulesets entry point, account-owned tokens, Audit Logs v2, and stricter token results
for the /user/tokens paths, which the vendored schema leaves as bare objects). An answer must fit every operation of
both documents that matches its method and path: its 2xx schema, or for any other status the failure envelope (the
vendored 4XX schema; Cloudflare answers 5xx in the same envelope, and a 429 with code 971, below the 1000 the
schema allows: hand-written `hw_throttled`). One relaxation is made at load time:
the token status enum gains `revoked (exposed)` (changelog 2026-04, terraform-provider-cloudflare PR #7023).

Slack: `standins/schemas/slack-web-api.json` is the subset of Slack's published Web API spec for the methods the bot
calls (chat.postMessage, chat.update, chat.postEphemeral, users.info, usergroups.users.list, conversations.members,
auth.test), vendored unchanged; the relaxations its description lists are applied here.

OpenAPI 3.0's `nullable` is turned into JSON Schema's `null` type; `format: date-time` is checked (RFC 3339).
A mismatch is recorded, never answered differently: tests/conftest.py fails the test during which it happened
(always on, like the Block Kit check), and `take_mismatches` lets a test that provokes one claim it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import best_match

SCHEMAS = Path(__file__).with_name("schemas")
CLOUDFLARE_FILES = ("cloudflare-user-tokens.json", "cloudflare-hand-written.json")
CLOUDFLARE_PREFIX = "/client/v4"
SLACK_FILE = "slack-web-api.json"
SLACK_PREFIX = "/api/"
THROTTLED = {"$ref": "#/components/schemas/hw_throttled"}  # any 429: code 971 is below the schema's minimum
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(_DATE_TIME.match(value)))

KEPT = 100
_mismatches: list[str] = []
_lock = threading.Lock()


def check(service: str, method: str, path: str, status: int, body: Any) -> None:
    """Record how a stand-in's JSON answer breaks its service's schemas (nothing when it fits, when no schema
    covers the path, or for a service without schemas here)."""
    if service == "cloudflare":
        problems = list(cloudflare_problems(method, path, status, body))
    elif service == "slack":
        problems = list(slack_problems(path, body))
    else:
        return
    if problems:
        with _lock:
            del _mismatches[:-KEPT]  # a long-running sandbox nobody takes from keeps only the latest
            _mismatches.append(f"{service.capitalize()} stand-in answered {method} {path} ({status}) off its "
                               "schema: " + "; ".join(problems[:5]))


def slack_problems(path: str, body: Any) -> Iterator[str]:
    """Each way a Slack Web API answer breaks the method's success (ok: true) or error schema (pure)."""
    validators = _slack_methods().get(path.removeprefix(SLACK_PREFIX))
    if validators is None:
        return
    validator = validators[0] if isinstance(body, dict) and body.get("ok") is True else validators[1]
    yield from _problems(validator, body)


def cloudflare_problems(method: str, path: str, status: int, body: Any) -> Iterator[str]:
    """Each way `body` breaks the schemas of the operations matching `method` and `path` (pure)."""
    route = path.removeprefix(CLOUDFLARE_PREFIX)
    answer = "200" if 200 <= status < 300 else "429" if status == 429 else "4XX"
    for validator in _validators(method.lower(), route, answer):
        yield from _problems(validator, body)


def _problems(validator: Draft4Validator, body: Any) -> Iterator[str]:
    """Each error as `path: message`; for a failed anyOf/oneOf, the closest alternative's error."""
    for error in validator.iter_errors(body):
        shown = best_match(error.context) if error.context else error
        where = "/".join(str(part) for part in shown.absolute_path) or "(body)"
        yield f"{where}: {shown.message[:200]}"


def take_mismatches() -> list[str]:
    """The mismatches recorded since the last take (and forget them)."""
    with _lock:
        taken = list(_mismatches)
        _mismatches.clear()
        return taken


def _validators(method: str, route: str, status: str) -> list[Draft4Validator]:
    """In each document, the operations of the path that matches with the fewest parameters (OpenAPI: a literal
    path such as /user/tokens/verify wins over /user/tokens/{token_id})."""
    chosen = []
    for operations in _operations(status):
        matching = [(params, validator) for pattern, params, verb, validator in operations
                    if verb == method and pattern.match(route)]
        fewest = min((params for params, _ in matching), default=None)
        chosen += [validator for params, validator in matching if params == fewest]
    return chosen


@cache
def _operations(status: str) -> tuple[tuple[tuple[re.Pattern[str], int, str, Draft4Validator], ...], ...]:
    """Per Cloudflare document: (path pattern, its parameter count, method, validator of the `status` answer)."""
    root = _cloudflare_root()
    documents = []
    for name in CLOUDFLARE_FILES:
        found = []
        for template, operations in json.loads((SCHEMAS / name).read_text(encoding="utf-8"))["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "/?$")
            for method, operation in operations.items():
                schema = (THROTTLED if status == "429" else
                          operation["responses"][status]["content"]["application/json"]["schema"])
                validator = Draft4Validator({**root, **_nullable(schema)}, format_checker=_FORMATS)
                found.append((pattern, template.count("{"), method, validator))
        documents.append(tuple(found))
    return tuple(documents)


@cache
def _cloudflare_root() -> dict[str, Any]:
    """Both documents' components in one root that every `#/components/...` reference resolves against."""
    schemas: dict[str, Any] = {}
    for name in CLOUDFLARE_FILES:
        schemas.update(json.loads((SCHEMAS / name).read_text(encoding="utf-8"))["components"]["schemas"])
    schemas["iam_status"] = {**schemas["iam_status"], "enum": [*schemas["iam_status"]["enum"], "revoked (exposed)"]}
    return {"components": {"schemas": _nullable(schemas)}}


@cache
def _slack_methods() -> dict[str, tuple[Draft4Validator, Draft4Validator]]:
    """Web API method → (success validator, error validator), with the relaxations the schema file describes."""
    document = _relaxed(json.loads((SCHEMAS / SLACK_FILE).read_text(encoding="utf-8")))
    user = document["definitions"]["objs_user"]  # the spec lists its two user shapes under `items`: one of them
    document["definitions"]["objs_user"] = {"type": "object", "anyOf": user.pop("items")}
    root = {"definitions": document["definitions"]}
    found = {}
    for method, schemas in document["x-methods"].items():
        error = schemas["error"]
        error["properties"].update(error={"type": "string"}, warning={"type": "string"},
                                   response_metadata={"type": "object"})
        if method == "chat.update":  # the spec types its message's blocks as an object; Slack answers an array
            schemas["success"]["properties"]["message"]["properties"]["blocks"] = {"$ref": "#/definitions/blocks"}
        found[method] = (Draft4Validator({**root, **schemas["success"]}),
                         Draft4Validator({**root, **error}))
    return found


def _relaxed(schema: Any) -> Any:
    """Slack adds fields to its answers: every `additionalProperties: false` of the 2020 spec is dropped."""
    if isinstance(schema, list):
        return [_relaxed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: _relaxed(value) for key, value in schema.items()
            if not (key == "additionalProperties" and value is False)}


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: `nullable: true` admits null (the type gains "null", an enum gains None)."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _nullable(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        if isinstance(converted.get("enum"), list) and None not in converted["enum"]:
            converted["enum"] = [*converted["enum"], None]
    return converted
