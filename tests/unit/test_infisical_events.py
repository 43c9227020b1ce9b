"""The webhook door's signature rule: Infisical's `t=<ms>;<hex HMAC-SHA256 of the raw body>`, at most 5 minutes old."""

from __future__ import annotations

import hashlib
import hmac

from bot.infisical_events import refusal

SECRET = b"webhook-secret"
BODY = b'{"event":"secrets.modified","project":{"environment":"prod","secretPath":"/x"},"timestamp":1790000000000}'
NOW = 1790000000000


def signed(body: bytes = BODY, t: int = NOW, secret: bytes = SECRET) -> str:
    return f"t={t};{hmac.new(secret, body, hashlib.sha256).hexdigest()}"


def test_a_fresh_signature_over_the_raw_body_passes():
    assert refusal(signed(), BODY, SECRET, NOW + 1000) is None


def test_unsigned_malformed_wrong_key_changed_body_and_stale_are_refused():
    assert "no valid" in refusal(None, BODY, SECRET, NOW)
    assert "no valid" in refusal(signed().replace(";", ","), BODY, SECRET, NOW)
    assert "does not match" in refusal(signed(secret=b"other"), BODY, SECRET, NOW)
    assert "does not match" in refusal(signed(), BODY + b" ", SECRET, NOW)
    assert "older than 5 minutes" in refusal(signed(t=NOW - 301_000), BODY, SECRET, NOW)
