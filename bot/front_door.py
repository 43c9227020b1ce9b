"""The checks every HTTP request to /slack/events passes before Bolt sees it: pure, one answer per problem.

Order matters: the signature is checked on the raw bytes first (anything unsigned, stale or with a malformed
timestamp gets 401 and is not even parsed), then the body's shape (400), then where answers may go: a
`response_url` that is not Slack's own is refused (400), so the web never posts to an address a request named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.signature import SignatureVerifier

SLACK_RESPONSE_ORIGINS = frozenset({"https://hooks.slack.com"})
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
PAYLOAD_TYPES = ("block_actions", "view_submission", "view_closed")
COMMAND_FIELDS = ("team_id", "channel_id", "user_id", "command", "text", "response_url")


@dataclass(frozen=True)
class Rejection:
    status: int
    error: str

    def body(self) -> bytes:
        return json.dumps({"error": self.error}).encode()


UNSIGNED = Rejection(401, "invalid request")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; '' when it has none."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port and parts.port != {"https": 443, "http": 80}.get(parts.scheme) else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


class _Clock:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now


def check_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    signing_secret: str,
    response_origins: Collection[str],
    now: Callable[[], float],
) -> Rejection | None:
    """None when the request may go to Bolt; otherwise the status and error to answer with, and nothing else."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not _TIMESTAMP.match(timestamp) or not _SIGNATURE.match(signature):
        return UNSIGNED
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return UNSIGNED  # Slack signs UTF-8 text; these bytes cannot be one of its requests
    if not SignatureVerifier(signing_secret, clock=_Clock(now)).is_valid(text, timestamp, signature):
        return UNSIGNED
    form = parse_form(text)  # parsed once here: a click's URL-encoded JSON is the costliest part of the checks
    payload = read_payload(form)
    problem = malformed(form, payload)
    if problem is not None:
        return Rejection(400, f"malformed request: {problem}")
    if any(origin_of(url) not in response_origins for url in response_urls(form, payload)):
        return Rejection(400, "malformed request: response_url is not Slack's")
    return None


def parse_form(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


_NOT_JSON = object()  # read_payload's answer for a `payload` field that is not JSON


def read_payload(form: dict[str, str]) -> Any:
    """The JSON of a click's or a submission's `payload` field; None for a slash command (no such field)."""
    if "payload" not in form:
        return None
    try:
        return json.loads(form["payload"])
    except ValueError:
        return _NOT_JSON


def malformed(form: dict[str, str], payload: Any) -> str | None:
    """What is wrong with a signed body's shape (a slash command, a click or a modal's submission), or None."""
    if "payload" in form:
        return _malformed_payload(payload)
    missing = [name for name in COMMAND_FIELDS if name not in form]
    if missing:
        return f"a slash command needs {', '.join(missing)}"
    return None


def _malformed_payload(payload: Any) -> str | None:
    if payload is _NOT_JSON:
        return "payload is not JSON"
    if not isinstance(payload, dict):
        return "payload is not an object"
    kind = payload.get("type")
    if kind not in PAYLOAD_TYPES:
        return f"{str(kind)[:40]!r} payloads are not expected"
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not isinstance(payload.get("team"), dict):
        return "user.id or team is missing"
    if kind != "block_actions":
        return None if isinstance(payload.get("view"), dict) else "view is missing"
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions is empty"
    if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
        return "an action has no action_id"
    if not isinstance(payload.get("container"), dict) or not isinstance(payload.get("response_url"), str):
        return "container or response_url is missing"
    return None


def response_urls(form: dict[str, str], payload: Any) -> list[str]:
    """Every response_url a signed, well-formed body names (a modal's submission names a list, maybe empty)."""
    if "payload" not in form:
        return [form["response_url"]]
    urls = [str(payload["response_url"])] if "response_url" in payload else []
    entries = payload.get("response_urls") if isinstance(payload.get("response_urls"), list) else []
    return urls + [str(entry.get("response_url", "")) if isinstance(entry, dict) else "" for entry in entries]
