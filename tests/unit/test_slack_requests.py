"""The signed-request builders produce what slack_sdk's SignatureVerifier (and so Bolt) accepts."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from standins.slack_requests import block_action, slash_command

SECRET = "test-signing-secret"
RESPONSE_URL = "http://127.0.0.1:9/response/abc"


def _form(body: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _command(**overrides: object) -> tuple[str, dict[str, str]]:
    values: dict[str, object] = {
        "signing_secret": SECRET,
        "text": "roll CF_DNS_EDIT key leaked & rotated",
        "user_id": "U0ALICE01",
        "channel_id": "C0SRE0001",
        "response_url": RESPONSE_URL,
    }
    values.update(overrides)
    return slash_command(**values)  # type: ignore[arg-type]


def _click(**overrides: object) -> tuple[str, dict[str, str]]:
    values: dict[str, object] = {
        "signing_secret": SECRET,
        "action_id": "approve",
        "value": "req-123",
        "user_id": "U0BOB0002",
        "channel_id": "C0SRE0001",
        "message_ts": "1700000000.000100",
        "response_url": RESPONSE_URL,
    }
    values.update(overrides)
    return block_action(**values)  # type: ignore[arg-type]


def test_slash_command_signature_is_accepted_by_slack_sdk():
    body, headers = _command()

    assert SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_slash_command_carries_every_field_slack_sends():
    body, headers = _command(trigger_id="1.2.abc", user_name="alice")

    fields = _form(body)
    assert fields == {
        "token": fields["token"],
        "team_id": "T0CFTOKEN",
        "team_domain": fields["team_domain"],
        "channel_id": "C0SRE0001",
        "channel_name": "sre",
        "user_id": "U0ALICE01",
        "user_name": "alice",
        "command": "/cftoken",
        "text": "roll CF_DNS_EDIT key leaked & rotated",
        "api_app_id": fields["api_app_id"],
        "is_enterprise_install": "false",
        "response_url": RESPONSE_URL,
        "trigger_id": "1.2.abc",
    }
    assert fields["token"] and fields["team_domain"] and fields["api_app_id"].startswith("A")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_slash_command_encodes_spaces_as_plus_like_slack():
    body, _ = _command(text="verify CF_DNS_EDIT")

    assert "text=verify+CF_DNS_EDIT" in body
    assert "command=%2Fcftoken" in body


def test_tampered_body_is_rejected():
    body, headers = _command(text="verify CF_DNS_EDIT")

    tampered = body.replace("verify", "revoke")

    assert not SignatureVerifier(SECRET).is_valid_request(tampered, headers)


def test_wrong_secret_is_rejected():
    body, headers = _command()

    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)


def test_timestamp_older_than_five_minutes_is_rejected():
    body, headers = _command(timestamp=int(time.time()) - 301)

    assert headers["X-Slack-Request-Timestamp"] == str(int(time.time()) - 301)
    assert not SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_explicit_recent_timestamp_is_signed_and_accepted():
    moment = int(time.time()) - 60

    body, headers = _command(timestamp=moment)

    assert headers["X-Slack-Request-Timestamp"] == str(moment)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_block_action_signature_is_accepted_by_slack_sdk():
    body, headers = _click()

    assert SignatureVerifier(SECRET).is_valid_request(body, headers)


def test_block_action_tampered_payload_is_rejected():
    body, headers = _click(value="req-123")

    assert not SignatureVerifier(SECRET).is_valid_request(body.replace("req-123", "req-999"), headers)


def test_block_action_payload_has_the_full_block_actions_shape():
    message = {
        "type": "message",
        "ts": "1700000000.000100",
        "text": "Roll CF_DNS_EDIT?",
        "blocks": [
            {
                "type": "actions",
                "block_id": "decide",
                "elements": [
                    {"type": "button", "action_id": "approve", "value": "req-123",
                     "text": {"type": "plain_text", "text": "Approve"}},
                ],
            }
        ],
    }

    body, _ = _click(block_id="decide", message=message)

    assert list(_form(body)) == ["payload"]
    payload = json.loads(_form(body)["payload"])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0BOB0002" and payload["user"]["team_id"] == "T0CFTOKEN"
    assert payload["team"]["id"] == "T0CFTOKEN"
    assert payload["container"] == {
        "type": "message", "message_ts": "1700000000.000100", "channel_id": "C0SRE0001", "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == "C0SRE0001"
    assert payload["message"] == message
    assert payload["state"] == {"values": {}}
    assert payload["response_url"] == RESPONSE_URL
    assert payload["api_app_id"] and payload["token"] and payload["trigger_id"]
    [action] = payload["actions"]
    assert action["action_id"] == "approve" and action["block_id"] == "decide"
    assert action["type"] == "button" and action["value"] == "req-123"
    assert action["text"]["text"] == "Approve"
    assert action["action_ts"]


def test_block_action_without_message_gets_a_minimal_message_at_the_clicked_ts():
    body, _ = _click()

    payload = json.loads(_form(body)["payload"])

    assert payload["message"]["ts"] == "1700000000.000100"
    assert payload["actions"][0]["text"]["text"] == "approve"


def test_block_action_in_ephemeral_container_omits_the_message():
    body, _ = _click(is_ephemeral=True)

    payload = json.loads(_form(body)["payload"])

    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload
