"""Signed requests exactly as Slack sends them to `POST /slack/events`: slash commands and button clicks.

Each builder returns `(body, headers)`: a form-encoded body and the `X-Slack-Request-Timestamp` /
`X-Slack-Signature` headers, so a test can feed them to
`app.dispatch(BoltRequest(body=body, headers=headers))` or POST them to a running web process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote_plus, urlencode

from standins.block_kit import check_message

API_APP_ID = "A0CFTOKEN"
TEAM_DOMAIN = "cftoken"
VERIFICATION_TOKEN = "standin-verification-token"  # deprecated by Slack, still sent


def sign(signing_secret: str, timestamp: int, body: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 over "v0:{timestamp}:{body}"."""
    digest = hmac.new(signing_secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return "v0=" + digest.hexdigest()


def signed_headers(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a form-encoded, signed body."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(signing_secret, ts, body),
    }


def slash_command(
    *,
    signing_secret: str,
    text: str,
    user_id: str,
    channel_id: str,
    command: str = "/cftoken",
    team_id: str = "T0CFTOKEN",
    user_name: str | None = None,
    channel_name: str = "sre",
    response_url: str,
    trigger_id: str | None = None,
    timestamp: int | None = None,
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A signed slash-command request, with every field Slack sends (enterprise_id only inside an org)."""
    ts = int(time.time()) if timestamp is None else timestamp
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(ts, user_id, secrets.token_hex(8)),  # unique per invocation
    }
    if enterprise_id is not None:
        fields["enterprise_id"] = enterprise_id
    body = urlencode(fields)
    return body, signed_headers(signing_secret, body, ts)


def block_action(
    *,
    signing_secret: str,
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    block_id: str = "actions",
    message: dict[str, Any] | None = None,
    timestamp: int | None = None,
    team_id: str = "T0CFTOKEN",
    user_name: str | None = None,
    channel_name: str = "sre",
    is_ephemeral: bool = False,
    trigger_id: str | None = None,
    api_app_id: str = API_APP_ID,
    enterprise_id: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A signed block_actions request for a button click on the message at `message_ts`.

    Pass a `trigger_id` from `SlackStandIn.new_trigger_id` when the click may open a modal.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    if message is None and not is_ephemeral:
        message = {"type": "message", "ts": message_ts, "text": "", "blocks": []}
    name = user_name or user_id.lower()
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(ts, user_id, action_id + value),
        "team": {"id": team_id, "domain": TEAM_DOMAIN, **({"enterprise_id": enterprise_id} if enterprise_id else {})},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "enterprise": None,  # outside an Enterprise Grid org, as Slack sends it
        "is_enterprise_install": False,
        "actions": [
            {
                "action_id": action_id,
                "block_id": _clicked_block_id(message, action_id, value) or block_id,
                "type": "button",
                "value": value,
                "text": {"type": "plain_text", "text": _button_label(message, action_id), "emoji": True},
                "action_ts": f"{ts}.000100",
            }
        ],
    }
    # Slack leaves `message` out of payloads for ephemeral containers (unconfirmed, see api-contracts.md).
    if message is not None:
        payload["message"] = message
    body = "payload=" + quote_plus(json.dumps(payload, separators=(",", ":")))
    return body, signed_headers(signing_secret, body, ts)


def view_submission(
    *,
    signing_secret: str,
    view: dict[str, Any],
    user_id: str,
    values: dict[str, dict[str, str]],
    timestamp: int | None = None,
    team_id: str = "T0CFTOKEN",
    user_name: str | None = None,
) -> tuple[str, dict[str, str]]:
    """A signed view_submission for the modal `view` (as views.open returned it), `values` typed per
    block_id and action_id into its plain_text_input elements."""
    ts = int(time.time()) if timestamp is None else timestamp
    name = user_name or user_id.lower()
    state = {
        block_id: {action_id: {"type": "plain_text_input", "value": value} for action_id, value in actions.items()}
        for block_id, actions in values.items()
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": _trigger_id(ts, user_id, view.get("id", "")),
        "view": {**view, "state": {"values": state}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    body = "payload=" + quote_plus(json.dumps(payload, separators=(",", ":")))
    return body, signed_headers(signing_secret, body, ts)


def _button_label(message: dict[str, Any] | None, action_id: str) -> str:
    """The clicked button's label when the message has it, else the action id."""
    for block in (message or {}).get("blocks", []):
        elements = block.get("elements", []) + ([block["accessory"]] if block.get("accessory") else [])
        for element in elements:
            if element.get("action_id") == action_id and isinstance(element.get("text"), dict):
                return str(element["text"].get("text", action_id))
    return action_id


def _clicked_block_id(message: dict[str, Any] | None, action_id: str, value: str) -> str | None:
    """The block_id of the block holding the clicked button, as Slack reports it (None: not in the message)."""
    for block in (message or {}).get("blocks", []):
        elements = block.get("elements", []) + ([block["accessory"]] if block.get("accessory") else [])
        if any(e.get("action_id") == action_id and str(e.get("value", "")) == value for e in elements):
            return block.get("block_id")
    return None


def _trigger_id(timestamp: int, user_id: str, salt: str) -> str:
    """A trigger id shaped like Slack's ("123.456.hex"), deterministic for a given request."""
    digest = hashlib.sha256(f"{timestamp}:{user_id}:{salt}".encode()).hexdigest()
    return f"{timestamp}.{int(digest[:8], 16)}.{digest[8:40]}"


def command_answer(body: str) -> dict[str, Any] | None:
    """A slash command's ack body as the message Slack shows the person who typed it (None: a bare ack).

    Raises Refused, as Slack refuses to show it, when the body breaks Block Kit's rules.
    """
    if not body.strip():
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return {"text": body}
    if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
        return {"text": body}
    check_message(payload.get("text") or "", payload.get("blocks"))
    return {key: payload[key] for key in ("text", "blocks", "response_type") if key in payload}
