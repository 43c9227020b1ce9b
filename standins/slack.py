"""Slack stand-in: the Web API methods the bot calls, response_url endpoints, and the channel it records.

Run it alone, seeded with the SRE channel C0SRE0001 and three people (bot token `xoxb-standin-token`):

    python -m standins.slack --port 8004

Point clients at `WebClient(token=..., base_url=standin.url + "/api/")`. Errors are HTTP 200 `{"ok": false,
"error": code}` as Slack sends them; faults answer 429 `ratelimited` with Retry-After, or 5xx, and
`answer_errors("internal_error", seconds=10)` makes every Web API call answer `{"ok": false, "error": …}` for a
while (Slack's own incidents: internal_error, fatal_error, service_unavailable, request_timeout; a revoked bot
token: token_revoked, invalid_auth, account_inactive), until it lapses or `answer_normally()`.

Decided here, unconfirmed against real Slack: a response_url is refused after 5 uses or 30 minutes (by
`self.clock`) with 404 `{"ok": false, "error": "expired_url"}`; its default response_type is ephemeral; the
bot's channel membership is a flag (`add_channel(..., bot_member=True)`), not listed in conversations.members.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from standins.base import WAIT_CEILING, Clock, Request, Response, StandIn, _Fault, serve_forever
from standins.block_kit import Refused, check_message, check_view
from standins.slack_socket import SocketModeStandIn

SCOPES = "commands,chat:write,usergroups:read,users:read,channels:read,groups:read,channels:history,groups:history"
RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
TRIGGER_LIFETIME = timedelta(seconds=3)  # a trigger_id opens a modal within 3 s of the click, once
CONTENT_ERRORS = ("no_text", "msg_too_long", "msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format",
                  "invalid_arguments")
AUTH_ERRORS = ("not_authed", "invalid_auth")


class SlackError(Exception):
    """An `ok: false` answer; the argument is Slack's error code, `messages` its response_metadata messages."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.messages = list(messages or [])

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": str(self)}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


@dataclass(frozen=True)
class Refusal:
    """A message Slack would not post: where it was sent, Slack's answer, and the start of its text."""

    method: str
    error: str
    messages: list[str]
    text: str


@dataclass(frozen=True)
class Version:
    text: str
    blocks: list[dict[str, Any]]


@dataclass
class Message:
    ts: str
    channel: str
    user: str  # who posted: a person's user id, or the bot's user id
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    ephemeral_for: str | None = None
    bot_id: str | None = None
    edits: list[Version] = field(default_factory=list)  # previous versions, oldest first
    deleted: bool = False
    metadata: dict[str, Any] | None = None
    broadcast: bool = False  # a thread reply also shown in the channel (reply_broadcast)

    @property
    def in_channel(self) -> bool:
        """Shown in the channel itself: a top-level message or a broadcast thread reply."""
        return self.thread_ts in (None, self.ts) or self.broadcast

    def to_api(self) -> dict[str, Any]:
        """The message object as Slack returns it (and as a block_actions payload carries it)."""
        body: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.bot_id:
            body["bot_id"] = self.bot_id
        if self.blocks:
            body["blocks"] = slack_shaped(self.blocks, self.ts)
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.broadcast:
            body["subtype"] = "thread_broadcast"
        return body


@dataclass(frozen=True)
class _Failing:
    error: str
    until: float | None  # time.monotonic() when it ends; None: until answer_normally()
    methods: frozenset[str] | None  # None: every Web API method


@dataclass
class _ResponseUrl:
    user: str
    channel: str
    message_ts: str | None  # the clicked message, for a button's response_url
    created: datetime
    uses: int = 0
    last_posted: str | None = None  # the latest message this URL posted


@dataclass
class _Trigger:
    user: str
    created: datetime
    used: bool = False


@dataclass
class OpenView:
    """A modal the bot opened for a person, as views.open returned it."""

    user: str
    view: dict[str, Any]


class SlackStandIn(StandIn):
    """Slack Web API + response_url stand-in that records every message per channel."""

    name = "slack"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        bot_token: str = "xoxb-standin-token",  # noqa: S107
        app_token: str = "xapp-standin-token",  # noqa: S107 - the app-level token Socket Mode connects with
        team_id: str = "T0CFTOKEN",
    ) -> None:
        super().__init__(clock)
        self.bot_token, self.app_token, self.team_id = bot_token, app_token, team_id
        self.socket_mode: SocketModeStandIn | None = None  # set by enable_socket_mode()
        self.bot_user_id, self.bot_id = "U0CFTBOT1", "B0CFTBOT1"
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self._messages: list[Message] = []
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, OpenView] = {}
        self._refusals: list[Refusal] = []
        self._last_ts = 0
        self._failing: _Failing | None = None  # answer_errors(): every Web API call answers ok:false for a while
        self.errors_answered = 0  # calls answered by answer_errors() so far
        self.add_user(self.bot_user_id, "cftoken", "cftoken", is_bot=True)
        self.route("POST", r"/api/(?P<method>[\w.]+)", self._api)
        self.route("GET", r"/api/(?P<method>[\w.]+)", self._api)
        self.route("POST", r"/response/(?P<rid>\w+)", self._response)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._auth_test,  # dispatched by _open_connection: app-level token only
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "usergroups.users.list": self._usergroup_users,
            "users.info": self._user_info,
            "conversations.members": self._members,
            "conversations.info": self._channel_info,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
        }

    def add_user(self, user_id: str, name: str, real_name: str, *, is_bot: bool = False) -> None:
        with self.lock:
            self.users[user_id] = {
                "id": user_id, "team_id": self.team_id, "name": name, "real_name": real_name,
                "deleted": False, "tz": "Europe/London", "is_admin": False, "is_owner": False,
                "is_bot": is_bot, "is_app_user": False, "is_restricted": False, "is_ultra_restricted": False,
                "updated": 1_700_000_000,
                # The fields Slack's published users.info schema requires of a profile (answer_schemas.py).
                "profile": {"display_name": name, "real_name": real_name, "email": f"{name}@example.test",
                            "display_name_normalized": name, "real_name_normalized": real_name,
                            "avatar_hash": "g" + user_id[-11:].lower(), "title": "", "phone": "", "skype": "",
                            "status_text": "", "status_emoji": "", "fields": None},
            }

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        with self.lock:
            self.usergroups[group_id] = list(user_ids)

    def add_channel(self, channel_id: str, name: str, members: list[str], *, bot_member: bool = True) -> None:
        with self.lock:
            self.channels[channel_id] = {"name": name, "members": list(members), "bot_member": bot_member}

    def new_response_url(self, user: str, channel: str, message_ts: str | None = None) -> str:
        """A response_url for a command (or, with message_ts, a button click on that message)."""
        rid = secrets.token_hex(12)
        with self.lock:
            self._response_urls[rid] = _ResponseUrl(user, channel, message_ts, self.clock.now())
        return f"{self.url}/response/{rid}"

    def new_trigger_id(self, user: str) -> str:
        """A trigger_id for a click or command by `user`: it opens one modal within 3 seconds."""
        trigger = f"{int(self.clock.now().timestamp())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        with self.lock:
            self._triggers[trigger] = _Trigger(user, self.clock.now())
        return trigger

    def open_views(self, user: str) -> list[OpenView]:
        """The modals open for `user`, oldest first."""
        with self.lock:
            return [copy.deepcopy(v) for v in self._views.values() if v.user == user]

    def close_view(self, view_id: str) -> None:
        """The person submitted or closed the modal."""
        with self.lock:
            self._views.pop(view_id, None)

    def keep_view_open(self, view_id: str, errors: dict[str, str]) -> None:
        """The app answered a submission with `response_action: errors`: Slack keeps the modal open and shows each
        error under its input (here the view is kept under a new id, so a page polling it draws it afresh)."""
        with self.lock:
            opened = self._views.pop(view_id, None)
            if opened is not None:
                again = "V" + secrets.token_hex(5).upper()
                self._views[again] = OpenView(opened.user, {**opened.view, "id": again, "errors": dict(errors)})

    def answer_errors(self, error: str, *, seconds: float | None = None,
                      methods: Collection[str] | None = None) -> None:
        """From now on, for `seconds` (None: until answer_normally) every Web API call (or only `methods`) answers
        HTTP 200 `{"ok": false, "error": error}` without acting, as Slack does during an incident of its own or
        while the bot token is revoked; `ratelimited` also carries Retry-After: 1."""
        until = None if seconds is None else time.monotonic() + seconds
        with self.lock:
            self._failing = _Failing(error, until, frozenset(methods) if methods else None)

    def answer_normally(self) -> None:
        """End answer_errors() now."""
        with self.lock:
            self._failing = None

    def _failing_with(self, method: str) -> str | None:
        """The error answer_errors() has this call answer, or None."""
        failing = self._failing
        if failing is None or (failing.methods is not None and method not in failing.methods):
            return None
        if failing.until is not None and time.monotonic() >= failing.until:
            self._failing = None
            return None
        self.errors_answered += 1
        return failing.error

    def refusals(self) -> list[Refusal]:
        """Every message refused so far (invalid_blocks, msg_too_long, …), oldest first."""
        with self.lock:
            return list(self._refusals)

    def record_refusal(self, method: str, error: SlackError | Refused, text: Any) -> None:
        """Remember a refused message so the sandbox page can show it."""
        code = error.error if isinstance(error, Refused) else str(error)
        with self.lock:
            self._refusals.append(Refusal(method, code, list(error.messages), str(text or "")[:200]))

    def messages(
        self, channel: str, *, visible_to: str | None = None, include_threads: bool = True
    ) -> list[Message]:
        """Live messages in ts order; ephemeral ones only for the user they were for."""
        with self.lock:
            return [
                copy.deepcopy(m)
                for m in self._messages
                if m.channel == channel and not m.deleted and m.ephemeral_for in (None, visible_to)
                and (include_threads or m.in_channel)
            ]

    def message(self, channel: str, ts: str) -> Message | None:
        """One message by ts, deleted or not."""
        with self.lock:
            found = self._find(channel, ts)
            return copy.deepcopy(found) if found else None

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent and its replies, in ts order."""
        return [m for m in self.messages(channel) if m.ts == ts or m.thread_ts == ts]

    def as_text(self, message: Message) -> str:
        """What a person reads: Block Kit rendered to lines (mrkdwn left as written), or the text."""
        lines = [line for block in message.blocks for line in _render_block(block)]
        return "\n".join(lines) if lines else message.text

    def channel_transcript(self, channel: str, visible_to: str | None = None) -> str:
        """The channel as a person sees it: top-level messages with their thread replies indented."""
        shown = self.messages(channel, visible_to=visible_to)
        out: list[str] = []
        for top in (m for m in shown if m.in_channel):
            out.append(self._render_entry(top, ""))
            if top.thread_ts not in (None, top.ts):
                continue  # a broadcast reply: its thread is listed under its parent
            replies = (r for r in shown if r.thread_ts == top.ts and r.ts != top.ts)
            out.extend(self._render_entry(reply, "    ↳ ") for reply in replies)
        return "\n".join(out)

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = WAIT_CEILING) -> Message:
        """Poll every recorded message (any channel, deleted too) until one satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                snapshot = copy.deepcopy(self._messages)
            for candidate in snapshot:
                if predicate(candidate):
                    return candidate
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching Slack message within {timeout}s; {len(snapshot)} recorded")
            time.sleep(0.02)

    def _render_entry(self, message: Message, prefix: str) -> str:
        who = self.users.get(message.user, {}).get("name", message.user)
        flags = " (only visible to you)" if message.ephemeral_for else ""
        flags += " (edited)" if message.edits else ""
        flags += " (also sent to the channel)" if message.broadcast else ""
        body = self.as_text(message).replace("\n", "\n" + " " * (len(prefix) + 2))
        return f"{prefix}{who}{flags}:\n{' ' * (len(prefix) + 2)}{body}"

    def fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)}
            return Response(429, {"ok": False, "error": "ratelimited"}, headers)
        return Response(int(fault.kind), {"ok": False, "error": "fatal_error"})

    def _api(self, request: Request) -> Response:
        handler = self._methods.get(request.params["method"])
        failing = self._failing_with(request.params["method"])
        if failing is not None:
            headers = {"x-oauth-scopes": SCOPES, **({"Retry-After": "1"} if failing == "ratelimited" else {})}
            return Response(200, {"ok": False, "error": failing}, headers)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            args = _args(request)
            token = request.bearer() or args.get("token")
            if request.params["method"] == "apps.connections.open":
                body = {"ok": True, **self._open_connection(token)}
            else:
                self._authenticate(token)
                body = {"ok": True, **handler(args)}
        except SlackError as exc:
            if str(exc) in CONTENT_ERRORS:
                self.record_refusal(request.params["method"], exc, args.get("text"))
            body = exc.body()
        return Response(200, body, {"x-oauth-scopes": SCOPES})

    def enable_socket_mode(self) -> SocketModeStandIn:
        """Turn Socket Mode on: apps.connections.open hands out a loopback WebSocket server's URL."""
        if self.socket_mode is None:
            self.socket_mode = SocketModeStandIn().start()
        return self.socket_mode

    def stop(self) -> None:
        if self.socket_mode is not None:
            self.socket_mode.stop()
        super().stop()

    def _open_connection(self, token: str | None) -> dict[str, Any]:
        """apps.connections.open: only the app-level token (xapp-) may open one; a bot token is the wrong type."""
        if not token:
            raise SlackError("not_authed")
        if secrets.compare_digest(token, self.bot_token):
            raise SlackError("not_allowed_token_type")
        if not secrets.compare_digest(token, self.app_token):
            raise SlackError("invalid_auth")
        if self.socket_mode is None:
            raise SlackError("socket_mode_not_enabled")  # unconfirmed error code for an app without Socket Mode
        return {"url": self.socket_mode.url}

    def _authenticate(self, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if not secrets.compare_digest(token, self.bot_token):
            raise SlackError("invalid_auth")

    def _auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://cftoken.slack.com/", "team": "cftoken", "user": "cftoken",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._bot_channel(args)
        text, blocks = _content(args)
        thread_ts = str(args.get("thread_ts") or "") or None
        if thread_ts is not None:
            parent = self._find(channel, thread_ts)
            if parent is None or parent.deleted or parent.thread_ts not in (None, parent.ts):
                raise SlackError("thread_not_found")
            parent.thread_ts = parent.ts
        message = self._record(
            channel, text, blocks, thread_ts=thread_ts, metadata=_metadata(args),
            broadcast=thread_ts is not None and _flag(args.get("reply_broadcast")),
        )
        return {"channel": channel, "ts": message.ts, "message": message.to_api()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, str(args.get("ts", "")))
        if message is None or message.deleted or message.ephemeral_for:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks = _content(args)
        message.edits.append(Version(message.text, message.blocks))
        # Slack keeps the previous blocks when an update omits them; `blocks: []` clears them.
        message.text, message.blocks = text, message.blocks if args.get("blocks") is None else blocks
        return {"channel": channel, "ts": message.ts, "text": text, "message": message.to_api()}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._bot_channel(args)
        user = str(args.get("user", ""))
        if user not in self.channels[channel]["members"]:
            raise SlackError("user_not_in_channel")
        text, blocks = _content(args)
        thread_ts = args.get("thread_ts") or None
        message = self._record(channel, text, blocks, thread_ts=thread_ts, ephemeral_for=user)
        return {"message_ts": message.ts}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._triggers.get(str(args.get("trigger_id") or ""))
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock.now() - trigger.created > TRIGGER_LIFETIME:
            raise SlackError("expired_trigger_id")
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise SlackError("invalid_arguments", ["[ERROR] must be valid JSON [json-pointer:/view]"]) from None
        try:
            check_view(view)
        except Refused as exc:
            raise SlackError(exc.error, exc.messages) from None
        trigger.used = True
        view_id = "V" + secrets.token_hex(5).upper()
        opened = {**view, "id": view_id, "team_id": self.team_id, "app_id": "A0CFTOKEN", "bot_id": self.bot_id,
                  "state": {"values": {}}, "hash": secrets.token_hex(8), "private_metadata": view.get(
                      "private_metadata", ""), "callback_id": view.get("callback_id", "")}
        self._views[view_id] = OpenView(trigger.user, opened)
        return {"view": copy.deepcopy(opened)}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(str(args.get("usergroup", "")))
        if users is None:
            raise SlackError("no_such_subteam")
        return {"users": list(users)}

    def _user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _channel_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.info: the channel as the bot sees it; `is_member` says whether the bot was invited."""
        channel_id = self._channel(args)
        channel = self.channels[channel_id]
        return {"channel": {"id": channel_id, "name": channel["name"], "is_channel": True, "is_private": False,
                            "is_archived": False, "is_member": channel["bot_member"],
                            "num_members": len(channel["members"])}}

    def _members(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.channels[self._channel(args)]["members"]
        limit = _limit(args)
        start = _cursor_position(str(args.get("cursor") or ""), members)
        page = members[start : start + limit]
        rest = members[start + limit :]
        cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """The channel's messages newest first (top level and broadcast replies), with metadata if asked for."""
        channel = self._bot_channel(args)
        shown = [m for m in self._messages if m.channel == channel and not m.deleted and not m.ephemeral_for
                 and m.in_channel]
        page = list(reversed(shown))[: _limit(args)]
        return {"messages": [_listed(m, _flag(args.get("include_all_metadata"))) for m in page], "has_more": False}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent first, then the replies oldest first."""
        channel = self._bot_channel(args)
        parent = self._find(channel, str(args.get("ts", "")))
        if parent is None or parent.deleted:
            raise SlackError("thread_not_found")
        thread = [m for m in self._messages if m.channel == channel and not m.deleted and not m.ephemeral_for
                  and (m.ts == parent.ts or m.thread_ts == parent.ts)]
        page = thread[: _limit(args)]
        return {"messages": [_listed(m, _flag(args.get("include_all_metadata"))) for m in page], "has_more": False}

    def _channel(self, args: dict[str, Any]) -> str:
        """The channel id named by `channel` (an id, or a name with or without '#')."""
        wanted = str(args.get("channel", ""))
        for channel_id, channel in self.channels.items():
            if wanted in (channel_id, channel["name"], "#" + channel["name"]):
                return channel_id
        raise SlackError("channel_not_found")

    def _bot_channel(self, args: dict[str, Any]) -> str:
        channel = self._channel(args)
        if not self.channels[channel]["bot_member"]:
            raise SlackError("not_in_channel")
        return channel

    def _record(self, channel: str, text: str, blocks: list[dict[str, Any]], **extra: Any) -> Message:
        ts = self._next_ts()
        message = Message(ts, channel, self.bot_user_id, text, blocks, bot_id=self.bot_id, **extra)
        self._messages.append(message)
        return message

    def _find(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self._messages if m.channel == channel and m.ts == ts), None)

    def _next_ts(self) -> str:
        """A Slack ts from the clock, strictly increasing."""
        micros = max(int(self.clock.now().timestamp() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _response(self, request: Request) -> Response:
        entry = self._response_urls.get(request.params["rid"])
        if entry is None or not self._usable(entry):
            return Response(404, {"ok": False, "error": "expired_url"})
        try:
            self._apply_response(entry, request.json())
        except (ValueError, AttributeError):
            return Response(400, {"ok": False, "error": "invalid_payload"})
        except SlackError as exc:
            if str(exc) in CONTENT_ERRORS:
                self.record_refusal("response_url", exc, (request.json() or {}).get("text"))
            return Response(404 if str(exc) == "message_not_found" else 400, exc.body())
        entry.uses += 1
        return Response(200, {"ok": True})

    def _usable(self, entry: _ResponseUrl) -> bool:
        return entry.uses < RESPONSE_URL_USES and self.clock.now() - entry.created <= RESPONSE_URL_LIFETIME

    def _apply_response(self, entry: _ResponseUrl, payload: dict[str, Any]) -> None:
        if payload.get("delete_original") or payload.get("replace_original"):
            # Without a clicked message (a command's URL), the original is this URL's latest response.
            original = self._find(entry.channel, entry.message_ts or entry.last_posted or "")
            if original is None or original.deleted:
                raise SlackError("message_not_found")
            if payload.get("delete_original"):
                original.deleted = True
                return
            text, blocks = _content(payload)
            original.edits.append(Version(original.text, original.blocks))
            original.text, original.blocks = text, blocks
            return
        text, blocks = _content(payload)
        ephemeral_for = None if payload.get("response_type") == "in_channel" else entry.user
        message = self._record(entry.channel, text, blocks, thread_ts=payload.get("thread_ts"),
                               ephemeral_for=ephemeral_for)
        entry.last_posted = message.ts


def slack_shaped(blocks: list[dict[str, Any]], ts: str) -> list[dict[str, Any]]:
    """Blocks as Slack returns them (and echoes them in a click): a Slack-assigned `block_id` on every block that
    had none (five characters, stable per message and position), `emoji: true` on every plain_text object and
    `verbatim: false` on every mrkdwn one that did not say."""
    shaped = []
    for n, block in enumerate(copy.deepcopy(blocks)):
        if "block_id" not in block:
            digest = hashlib.sha256(f"{ts}:{n}".encode()).digest()
            block = {**block, "block_id": "".join(_BLOCK_ID_ALPHABET[b % len(_BLOCK_ID_ALPHABET)]
                                                  for b in digest[:5])}
        _shape_texts(block)
        shaped.append(block)
    return shaped


_BLOCK_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _shape_texts(value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _shape_texts(item)
        return
    if not isinstance(value, dict):
        return
    if value.get("type") == "plain_text" and isinstance(value.get("text"), str):
        value.setdefault("emoji", True)
    elif value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
        value.setdefault("verbatim", False)
    for item in value.values():
        _shape_texts(item)


def _args(request: Request) -> dict[str, Any]:
    """Query string plus a form or JSON body, as Slack accepts either."""
    args: dict[str, Any] = {key: values[0] for key, values in request.query.items()}
    if "json" in (request.header("content-type") or ""):
        try:
            args.update(request.json())
        except ValueError:
            raise SlackError("invalid_json") from None
    elif request.body:
        args.update(request.form())
    return args


def _content(args: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks) of a message; blocks may arrive as a JSON string in form bodies."""
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    text = args.get("text") or ""
    try:
        check_message(text, blocks)
    except Refused as exc:
        raise SlackError(exc.error, exc.messages) from None
    return text, blocks


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _limit(args: dict[str, Any]) -> int:
    try:
        limit = int(args.get("limit") or 100)
    except ValueError:
        raise SlackError("invalid_limit") from None
    if not 1 <= limit <= 1000:
        raise SlackError("invalid_limit")
    return limit


def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """chat.postMessage's `metadata` (an object, or a JSON string in form bodies): event_type and event_payload."""
    raw = args.get("metadata")
    if raw in (None, ""):
        return None
    try:
        metadata = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise SlackError("invalid_metadata_format") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str) or not isinstance(
        metadata.get("event_payload"), dict
    ):
        raise SlackError("invalid_metadata_format")
    return metadata


def _listed(message: Message, with_metadata: bool) -> dict[str, Any]:
    body = message.to_api()
    if with_metadata and message.metadata:
        body["metadata"] = copy.deepcopy(message.metadata)
    return body


def _cursor_position(cursor: str, members: list[str]) -> int:
    if not cursor:
        return 0
    try:
        kind, _, user = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if kind != "user" or user not in members:
        raise SlackError("invalid_cursor")
    return members.index(user)


def _render_block(block: dict[str, Any]) -> list[str]:
    """One Block Kit block as the lines a person reads."""
    kind = block.get("type")
    if kind in ("section", "header"):
        lines = [block["text"]["text"]] if block.get("text") else []
        lines += [f["text"] for f in block.get("fields", [])]
        accessory = block.get("accessory")
        if accessory:
            lines.append(_render_element(accessory))
        return lines
    if kind == "context":
        return ["  ".join(_render_element(e) for e in block.get("elements", []))]
    if kind == "actions":
        return [" ".join(_render_element(e) for e in block.get("elements", []))]
    if kind == "divider":
        return ["---"]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    return []


def _render_element(element: dict[str, Any]) -> str:
    if element.get("type") in ("mrkdwn", "plain_text"):
        return str(element.get("text", ""))
    if element.get("type") == "image":
        return f"[image: {element.get('alt_text', '')}]"
    label = element.get("text") or element.get("placeholder") or {"text": element.get("type", "")}
    return f"[{label['text']}]"


def seed(standin: SlackStandIn) -> SlackStandIn:
    """The sandbox's workspace: the SRE channel, three people, an approvers group."""
    standin.add_user("U0ALICE01", "alice", "Alice Approver")
    standin.add_user("U0BOB0002", "bob", "Bob Approver")
    standin.add_user("U0CAROL03", "carol", "Carol Engineer")
    standin.add_usergroup("S0SREAPPR", ["U0ALICE01", "U0BOB0002"])
    standin.add_channel("C0SRE0001", "sre", ["U0ALICE01", "U0BOB0002", "U0CAROL03"])
    return standin


def main(argv: list[str] | None = None) -> None:
    """Run the seeded Slack stand-in in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8004)
    args = parser.parse_args(argv)
    standin = seed(SlackStandIn())
    print(f"bot token: {standin.bot_token}; Web API base: http://127.0.0.1:{args.port}/api/", flush=True)
    serve_forever(standin, args.port)


if __name__ == "__main__":
    main()
