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
    problem = malformed(text)
    if problem is not None:
        return Rejection(400, f"malformed request: {problem}")
    if origin_of(response_url(text)) not in response_origins:
        return Rejection(400, "malformed request: response_url is not Slack's")
    return None


def parse_form(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


def malformed(text: str) -> str | None:
    """What is wrong with a signed body's shape (a slash command or a block_actions click), or None."""
    form = parse_form(text)
    if "payload" in form:
        return _malformed_payload(form["payload"])
    missing = [name for name in COMMAND_FIELDS if name not in form]
    if missing:
        return f"a slash command needs {', '.join(missing)}"
    return None


def _malformed_payload(raw: str) -> str | None:
    try:
        payload: Any = json.loads(raw)
    except ValueError:
        return "payload is not JSON"
    if not isinstance(payload, dict):
        return "payload is not an object"
    if payload.get("type") != "block_actions":
        return "only block_actions payloads are expected"
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        return "actions is empty"
    if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
        return "an action has no action_id"
    for name in ("user", "team", "container", "channel"):
        if not isinstance(payload.get(name), dict) or not isinstance(payload[name].get("id", ""), str):
            return f"{name} is missing"
    if not isinstance(payload["user"].get("id"), str) or not isinstance(payload.get("response_url"), str):
        return "user.id or response_url is missing"
    return None


def response_url(text: str) -> str:
    """The response_url a signed, well-formed body names."""
    form = parse_form(text)
    if "payload" in form:
        return str(json.loads(form["payload"])["response_url"])
    return form["response_url"]
