"""Bolt's single-workspace authorization, patient with Slack's own trouble.

Bolt calls `auth.test` on the first request that needs it and caches the answer; when that call fails for any
reason it answers the person "your installation with this app is no longer available", and so it does for every
request until one call passes: a web started during a Slack blip turned every command away. Here a failure that
can pass (Slack's transient `ok: false` answers, a 5xx, a dropped connection or a timeout; domain/slack_answers.py)
is not cached: `auth.test` is asked again on the next request. Meanwhile the request goes on as the workspace a
previous `auth.test` named, remembered in Redis under an integrity tag (`cftoken:slack:workspace`; key not in
Redis, so a Redis writer cannot name another workspace); when there is none yet, the person is told Slack could not
confirm the workspace and nothing was done. Only Slack refusing the token itself keeps Bolt's answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis
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

from domain import integrity, slack_answers

log = logging.getLogger(__name__)
WORKSPACE_KEY = "cftoken:slack:workspace"  # hash: payload (auth.test's team, organisation, bot), tag
_KIND, _ID = "slack_workspace", "bot"
_FIELDS = ("team_id", "enterprise_id", "user_id", "bot_id")
UNCONFIRMED = ("Slack could not confirm which workspace the bot belongs to just now ({why}: trouble on Slack's side), "
               "so nothing was done. Try again in a minute.")


class PatientAuthorization(SingleTeamAuthorization):
    """SingleTeamAuthorization whose auth.test may fail for a while without turning anyone away."""

    def __init__(self, *, conn: redis.Redis, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redis = conn

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002 - Bolt's signature
        if self.auth_test_result or _is_no_auth_required(req) or _is_no_auth_test_call_required(req):
            return super().process(req=req, resp=resp, next=next)
        try:
            self.auth_test_result = req.context.client.auth_test()
        except SlackApiError as exc:
            code = str((exc.response.data if isinstance(exc.response.data, dict) else {}).get("error") or "")
            if exc.response.status_code < 500 and slack_answers.classify(code) != "transient":
                log.error("Slack refused the bot token (auth.test: %s)", code or exc.response.status_code)
                return _build_user_facing_error_response(self.user_facing_authorize_error_message)
            return self._as_remembered(req, next, code or f"HTTP {exc.response.status_code}")
        except (SlackClientError, OSError) as exc:
            return self._as_remembered(req, next, type(exc).__name__)
        remember(self.redis, self.auth_test_result.data)
        return super().process(req=req, resp=resp, next=next)

    def _as_remembered(self, req: BoltRequest, next: Callable[[], BoltResponse], why: str) -> BoltResponse:  # noqa: A002
        workspace = remembered(self.redis)
        if workspace is None:
            log.warning("auth.test failed (%s, Slack's own trouble) and no workspace is remembered: the request is "
                        "answered 'try again'", why)
            return _build_user_facing_error_response(UNCONFIRMED.format(why=why))
        log.warning("auth.test failed (%s, Slack's own trouble): the request goes on as workspace %s, as the last "
                    "auth.test said; asking again on the next one", why, workspace["team_id"])
        req.context.set_authorize_result(AuthorizeResult(
            enterprise_id=workspace["enterprise_id"] or None, team_id=workspace["team_id"],
            bot_user_id=workspace["user_id"] or None, bot_id=workspace["bot_id"] or None,
            bot_token=req.context.client.token, user_id=req.context.user_id,
        ))
        return next()


def remember(conn: redis.Redis, answer: Any) -> None:
    """Keep auth.test's workspace, tagged, for a later blip (a Redis error only means it is not remembered)."""
    data = answer if isinstance(answer, dict) else {}
    if not data.get("team_id"):
        return
    payload = json.dumps({name: str(data.get(name) or "") for name in _FIELDS}, sort_keys=True)
    try:
        conn.hset(WORKSPACE_KEY, mapping={"payload": payload, "tag": integrity.tag(
            integrity.process_key(), _KIND, _ID, payload.encode())})
    except redis.RedisError as exc:
        log.warning("could not remember the workspace auth.test named (%s)", type(exc).__name__)


def remembered(conn: redis.Redis) -> dict[str, str] | None:
    """The workspace the last auth.test named, if its tag verifies; None otherwise (a forged one is logged)."""
    try:
        raw = conn.hgetall(WORKSPACE_KEY)
    except redis.RedisError:
        return None
    if not raw:
        return None
    payload, claimed = raw.get(b"payload", b""), raw.get(b"tag", b"").decode(errors="replace")
    if not integrity.verifies_any(_KIND, _ID, payload, claimed):
        log.error("%s has an integrity tag that does not verify: it was not written by cftoken; ignored",
                  WORKSPACE_KEY)
        return None
    workspace = json.loads(payload)
    return workspace if workspace.get("team_id") else None


def patient(middleware: list, conn: redis.Redis) -> list:
    """Bolt's middleware list with its SingleTeamAuthorization replaced by PatientAuthorization."""
    return [PatientAuthorization(conn=conn, auth_test_result=m.auth_test_result,
                                 user_facing_authorize_error_message=m.user_facing_authorize_error_message)
            if type(m) is SingleTeamAuthorization else m for m in middleware]
