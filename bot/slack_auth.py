"""Bolt's single-workspace authorization, patient with Slack's own trouble.

Bolt calls `auth.test` on the first request that needs it and caches the answer; when that call fails for any
reason it answers the person "your installation with this app is no longer available", and so it does for every
request until one call passes: a web started during a Slack blip turned every command away. Here a failure that
can pass (Slack's transient `ok: false` answers, a 5xx, a dropped connection or a timeout; domain/slack_answers.py)
lets the request go on with the configured bot token, unverified and uncached, and `auth.test` is asked again
on the next request until it answers. Only Slack refusing the token itself keeps Bolt's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware.authorization import SingleTeamAuthorization
from slack_bolt.middleware.authorization.internals import (
    _build_user_facing_error_response,
    _is_no_auth_required,
    _is_no_auth_test_call_required,
)
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError

from domain import slack_answers

log = logging.getLogger(__name__)


class PatientAuthorization(SingleTeamAuthorization):
    """SingleTeamAuthorization whose first auth.test may fail for a while without turning anyone away."""

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002 - Bolt's signature
        if self.auth_test_result or _is_no_auth_required(req) or _is_no_auth_test_call_required(req):
            return super().process(req=req, resp=resp, next=next)
        try:
            self.auth_test_result = req.context.client.auth_test()
        except SlackApiError as exc:
            code = str((exc.response.data if isinstance(exc.response.data, dict) else {}).get("error") or "")
            if slack_answers.classify(code) == "auth" or (code and exc.response.status_code < 500
                                                          and slack_answers.classify(code) == "refused"):
                log.error("Slack refused the bot token (auth.test: %s)", code)
                return _build_user_facing_error_response(self.user_facing_authorize_error_message)
            return self._unverified(req, next, code or f"HTTP {exc.response.status_code}")
        except (SlackClientError, OSError) as exc:
            return self._unverified(req, next, type(exc).__name__)
        return super().process(req=req, resp=resp, next=next)

    def _unverified(self, req: BoltRequest, next: Callable[[], BoltResponse], why: str) -> BoltResponse:  # noqa: A002
        log.warning("auth.test failed (%s, Slack's own trouble): this request goes on with the configured bot token; "
                    "asking again on the next one", why)
        req.context.set_authorize_result(AuthorizeResult(
            enterprise_id=req.context.enterprise_id, team_id=req.context.team_id, bot_token=req.context.client.token,
            user_id=req.context.user_id,
        ))
        return next()


def patient(middleware: list) -> list:
    """Bolt's middleware list with its SingleTeamAuthorization replaced by PatientAuthorization."""
    return [PatientAuthorization(auth_test_result=m.auth_test_result,
                                 user_facing_authorize_error_message=m.user_facing_authorize_error_message)
            if type(m) is SingleTeamAuthorization else m for m in middleware]
