"""What an `ok: false` answer from Slack's Web API means for the bot, as Slack documents its error codes.

    transient  Slack's own trouble, or its rate limit: retried like a 5xx (`ratelimited` waits out Retry-After)
    auth       the bot token itself is refused: no call can pass until someone fixes the token, so delivery stops
               for the whole process (nothing owed is dropped) and resumes once auth.test answers ok again
    refused    Slack refuses this one call (its message, its channel, its arguments): retrying cannot help

Sources: every Web API method's "Errors" table on docs.slack.dev (internal_error, fatal_error,
service_unavailable, request_timeout: "transient issue on our end"; ratelimited; the auth errors below).
"""

from __future__ import annotations

from typing import Literal

TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited",
                       "rate_limited"})
RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
AUTH = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired",
                  "org_login_required", "ekm_access_denied", "team_access_not_granted"})

Kind = Literal["transient", "auth", "refused"]


def classify(code: str) -> Kind:
    """The kind of Slack's error `code`; a code the bot does not know is a refusal of that call (never retried
    for ever, never an outage)."""
    if code in TRANSIENT:
        return "transient"
    if code in AUTH:
        return "auth"
    return "refused"
