"""The sandbox's channel page, served by the Slack stand-in next to the Web API it records.

    GET  /                      the page (sandbox/static/): the SRE channel, a composer, the world panel
    GET  /sandbox/state?viewer=U…   the channel as that person (default: the first) sees it, plus the world
    POST /sandbox/command       {user, text}: a signed slash command to the bot, as Slack sends it
    POST /sandbox/action        {user, action_id, value, message_ts, block_id}: a signed button click
    POST /sandbox/submit        {user, view_id, values}: a signed view_submission of a modal the bot opened
    POST /sandbox/fast-forward  {days}: move the stand-ins' and the bot's clocks, then scan for expiry now
    POST /sandbox/break         {name, how}: break a token as the world outside the bot would (disable, expire,
                                expose, change its policy, delete it, change the vault value…) or repair it; a
                                scan is queued so the channel shows the bot noticing
    GET  /conversation/N        (on the FreeScout stand-in) the incident ticket the bot links to

Commands and clicks are delivered from a background thread: stand-in handlers run under the stand-in's lock,
and the bot calls the Web API while it handles a request. As Slack does, a command's immediate (ack) body is
shown to the person who typed it, or to the channel when its response_type is in_channel; a bot that does not
answer within 3 seconds gets Slack's `operation_timeout` error shown instead. Every message Slack would refuse
(invalid_blocks, msg_too_long, …), whichever way it was sent, is listed at the top of the page in red.
"""

from __future__ import annotations

import html
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from domain.queueing import SCAN_JOB, job_queue
from standins.base import Handler, Request, Response
from standins.block_kit import Refused
from standins.slack import Message
from standins.slack_requests import block_action, command_answer, slash_command, view_submission
from standins.world import APPROVERS, BREAKS, CHANNEL, World

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
SLACK_TIMEOUT_SECONDS = 3.0  # Slack gives up on a command or click that is not acked within 3 s
MAX_FAST_FORWARD_DAYS = 400


@dataclass
class Sandbox:
    """What the page's routes need: the world, the bot's web URL, Redis and the bot's clock-offset key."""

    world: World
    bot_url: str
    redis: redis.Redis
    offset_key: str
    page_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # per run, only in the page

    @property
    def people(self) -> list[str]:
        return list(self.world.slack.channels[CHANNEL]["members"])


def install(sandbox: Sandbox) -> None:
    """Register the page's routes on the world's Slack stand-in (and the ticket view on FreeScout's)."""
    slack, page = sandbox.world.slack, _Page(sandbox)
    door = PageDoor(sandbox.page_token, port=urlsplit(slack.url).port or 80)
    slack.route("GET", "", door.read(page.index))
    slack.route("GET", r"/static/(?P<name>[\w.-]+)", door.read(page.static))
    slack.route("GET", "/sandbox/state", door.read(page.state))
    slack.route("POST", "/sandbox/command", door.write(page.command))
    slack.route("POST", "/sandbox/action", door.write(page.action))
    slack.route("POST", "/sandbox/submit", door.write(page.submit))
    slack.route("POST", "/sandbox/fast-forward", door.write(page.fast_forward))
    slack.route("POST", "/sandbox/break", door.write(page.break_token))
    slack.route("POST", "/sandbox/break-sync", door.write(page.break_sync))
    sandbox.world.freescout.route("GET", r"/conversation/(?P<cid>\d+)", page.ticket)


class PageDoor:
    """Only the sandbox's own page drives the bot.

    Every route checks the Host header (127.0.0.1 or localhost on the page's port: a DNS-rebound name is
    refused); every POST must carry the run's token (in the page it served, sent as X-Sandbox-Token) with a
    JSON body. A cross-site form or `text/plain` POST has neither, and a page elsewhere cannot read the token.
    """

    def __init__(self, token: str, *, port: int) -> None:
        self.token = token
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}

    def read(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            return self._host_refusal(request) or handler(request)

        return guarded

    def write(self, handler: Handler) -> Handler:
        def guarded(request: Request) -> Response:
            refusal = self._host_refusal(request)
            if refusal is not None:
                return refusal
            if not secrets.compare_digest(request.header("x-sandbox-token") or "", self.token):
                return Response(403, {"error": "only the sandbox page can do this (missing or wrong page token)"})
            if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
                return Response(415, {"error": "expected Content-Type: application/json"})
            return handler(request)

        return guarded

    def _host_refusal(self, request: Request) -> Response | None:
        if (request.header("host") or "").lower() not in self.hosts:
            return Response(421, {"error": "open the sandbox at its 127.0.0.1 or localhost address"})
        return None


def mask(value: str | None) -> str | None:
    """A vault value as the page shows it: the last 4 characters (a REVOKED placeholder is not a secret)."""
    if value is None:
        return None
    if value.startswith("REVOKED"):
        return value
    return "…" + value[-4:] if len(value) >= 12 else "…"


class _Page:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.slack = sandbox.world.slack
        self.http = httpx.Client(timeout=SLACK_TIMEOUT_SECONDS)

    def index(self, request: Request) -> Response:
        page = (STATIC / "index.html").read_text().replace("{{page_token}}", self.sandbox.page_token)
        return Response(200, page, {"Cache-Control": "no-store"}, content_type=CONTENT_TYPES[".html"])

    def static(self, request: Request) -> Response:
        return self._file(request.params["name"])

    def _file(self, name: str) -> Response:
        path = STATIC / name
        if not path.is_file() or path.suffix not in CONTENT_TYPES:
            return Response(404, {"error": "not found"})
        headers = {"Cache-Control": "no-store"}
        return Response(200, path.read_bytes(), headers, content_type=CONTENT_TYPES[path.suffix])

    def state(self, request: Request) -> Response:
        viewer = request.arg("viewer") or ""
        if viewer not in self.sandbox.people:
            viewer = self.sandbox.people[0]
        shown = self.slack.messages(CHANNEL, visible_to=viewer)
        tops = [m for m in shown if m.thread_ts in (None, m.ts)]
        return Response(200, {
            "channel": {"id": CHANNEL, "name": self.slack.channels[CHANNEL]["name"]},
            "viewer": viewer,
            "people": [self._person(user) for user in self.sandbox.people],
            "names": {user: info["real_name"] for user, info in self.slack.users.items()},
            "bot_user": self.slack.bot_user_id,
            "messages": [self._message(m, [r for r in shown if r.thread_ts == m.ts and r.ts != m.ts]) for m in tops],
            "clock": {"now": self.world.clock.now().isoformat(timespec="minutes"),
                      "offset_days": round(self.world.clock.offset / timedelta(days=1), 3)},
            "world": {"tokens": self._tokens(), "tickets": self._tickets(), "breaks": BREAKS,
                      "breakable": list(self.world.token_ids)},
            "refusals": [{"method": r.method, "error": r.error, "messages": r.messages[:5], "text": r.text}
                         for r in self.slack.refusals()],
            "views": [v.view for v in self.slack.open_views(viewer)],
            "urls": {"bot": self.sandbox.bot_url, "slack": self.slack.url, "cloudflare": self.world.cloudflare.url,
                     "infisical": self.world.infisical.url, "freescout": self.world.freescout.url},  # no secrets
        })

    def _person(self, user: str) -> dict[str, Any]:
        info = self.slack.users[user]
        return {"id": user, "name": info["name"], "real_name": info["real_name"], "approver": user in APPROVERS}

    def _message(self, message: Message, replies: list[Message]) -> dict[str, Any]:
        author = self.slack.users.get(message.user, {})
        return {
            "ts": message.ts, "user": message.user, "author": author.get("real_name", message.user),
            "is_bot": bool(author.get("is_bot")), "text": message.text, "blocks": message.blocks,
            "edited": bool(message.edits), "ephemeral": message.ephemeral_for is not None,
            "earlier": [self.slack.as_text(replace(message, text=v.text, blocks=v.blocks)) for v in message.edits],
            "replies": [self._message(reply, []) for reply in replies],
        }

    def _tokens(self) -> list[dict[str, Any]]:
        vault = self.world.vault()
        now = self.world.clock.now()
        rows = []
        scopes = {token.name: token.scope for token in self.world.inventory.tokens}
        names = [*scopes, *(name for name in vault if "__" not in name and name not in scopes)]  # provisioned ones
        for name in names:
            # the vault's __TOKEN_ID is the id in use (a provisioned replacement has a new one)
            token_id = vault.get(name + "__TOKEN_ID") or self.world.token_ids.get(name, "")
            record = self.world.cloudflare.token(token_id)
            expires_on = record.get("expires_on") if record else None
            days_left = None
            if expires_on:
                moment = datetime.fromisoformat(expires_on.replace("Z", "+00:00"))
                days_left = round((moment - now) / timedelta(days=1), 1)
            prefix = name + "__"
            rows.append({
                "name": name, "token_id": token_id, "scope": (scopes.get(name) or vault.get(name + "__SCOPES", "")),
                "status": record["status"] if record else "deleted", "expires_on": expires_on,
                "days_left": days_left, "vault": mask(vault.get(name)),
                "companions": {key[len(name):]: value for key, value in sorted(vault.items())
                               if key.startswith(prefix)},
            })
        return rows

    def _tickets(self) -> list[dict[str, Any]]:
        base = self.world.freescout.url
        return [
            {"id": c["id"], "number": c["number"], "subject": c["subject"], "status": c["status"],
             "created_at": c["createdAt"], "tags": [t["name"] for t in c["_embedded"].get("tags", [])],
             "url": f"{base}/conversation/{c['id']}"}
            for c in self.world.freescout.conversations()
        ]

    def ticket(self, request: Request) -> Response:
        """A plain view of one FreeScout conversation, so the bot's ticket link leads somewhere."""
        conversation = self.world.freescout.conversation(int(request.params["cid"]))
        if conversation is None:
            return Response(404, "<h1>No such conversation</h1>", content_type="text/html; charset=utf-8")
        threads = "".join(
            f"<article><h3>{html.escape(str(t.get('type', '')))} · {html.escape(str(t.get('createdAt', '')))}</h3>"
            f"<pre>{html.escape(str(t.get('body', '')))}</pre></article>"
            for t in conversation["_embedded"]["threads"]
        )
        tags = ", ".join(html.escape(t["name"]) for t in conversation["_embedded"].get("tags", []))
        page = (
            f"<!doctype html><meta charset=utf-8><title>#{conversation['number']}</title>"
            "<style>body{font:15px system-ui;margin:2em;max-width:60em}pre{white-space:pre-wrap}</style>"
            f"<h1 data-testid=ticket-subject>#{conversation['number']} {html.escape(conversation['subject'])}</h1>"
            f"<p>Status: {html.escape(conversation['status'])} · Tags: {tags or 'none'}</p>{threads}"
        )
        return Response(200, page, content_type="text/html; charset=utf-8")

    def command(self, request: Request) -> Response:
        data, error = self._json(request)
        if error:
            return error
        text = str(data.get("text", "")).strip()
        if text.startswith("/") and not (text == "/cftoken" or text.startswith("/cftoken ")):
            return Response(400, {"error": "only /cftoken commands reach the bot in the sandbox"})
        text = text.removeprefix("/cftoken").strip()
        user = data["user"]
        body, headers = slash_command(
            signing_secret=self.world.signing_secret, text=text, user_id=user, channel_id=CHANNEL,
            user_name=self.slack.users[user]["name"], response_url=self.slack.new_response_url(user, CHANNEL),
        )
        self._deliver(body, headers, user, show_ack=True)
        return Response(202, {"ok": True})

    def action(self, request: Request) -> Response:
        data, error = self._json(request)
        if error:
            return error
        user, ts = data["user"], str(data.get("message_ts", ""))
        message = self.slack.message(CHANNEL, ts)
        if message is None or message.deleted or message.ephemeral_for not in (None, user):
            return Response(404, {"error": "no such message"})
        ephemeral = message.ephemeral_for is not None
        body, headers = block_action(
            signing_secret=self.world.signing_secret, action_id=str(data.get("action_id", "")),
            value=str(data.get("value", "")),
            user_id=user, channel_id=CHANNEL, message_ts=ts, block_id=str(data.get("block_id") or "actions"),
            response_url=self.slack.new_response_url(user, CHANNEL, ts), user_name=self.slack.users[user]["name"],
            message=None if ephemeral else message.to_api(), is_ephemeral=ephemeral,
            trigger_id=self.slack.new_trigger_id(user),
        )
        self._deliver(body, headers, user, show_ack=False)
        return Response(202, {"ok": True})

    def submit(self, request: Request) -> Response:
        data, error = self._json(request)
        if error:
            return error
        user = data["user"]
        view = next((v.view for v in self.slack.open_views(user) if v.view["id"] == data.get("view_id")), None)
        if view is None:
            return Response(404, {"error": "no such modal open"})
        if data.get("closed"):  # Cancel: Slack sends nothing unless the view asked for notify_on_close
            self.slack.close_view(view["id"])
            return Response(200, {"ok": True})
        values = data.get("values") if isinstance(data.get("values"), dict) else {}
        body, headers = view_submission(
            signing_secret=self.world.signing_secret, view=view, user_id=user, user_name=self.slack.users[user]["name"],
            values={str(b): {str(a): str(v) for a, v in actions.items()} for b, actions in values.items()
                    if isinstance(actions, dict)},
        )
        self._deliver(body, headers, user, show_ack=False, submitted=view["id"])
        return Response(202, {"ok": True})

    def fast_forward(self, request: Request) -> Response:
        try:
            days = float(request.json().get("days", 0))
        except (ValueError, TypeError, AttributeError):
            days = 0
        if not 0 < days <= MAX_FAST_FORWARD_DAYS:
            return Response(400, {"error": f"days must be more than 0 and at most {MAX_FAST_FORWARD_DAYS}"})
        delta = timedelta(days=days)
        self.world.clock.advance(delta)
        self.sandbox.redis.incrbyfloat(self.sandbox.offset_key, delta.total_seconds())
        job_queue(self.sandbox.redis).enqueue(SCAN_JOB, job_timeout=600)
        return Response(200, {"ok": True, "offset_days": round(self.world.clock.offset / timedelta(days=1), 3)})

    def break_token(self, request: Request) -> Response:
        try:
            data = request.json()
        except ValueError:
            data = None
        name, how = (data.get("name"), data.get("how")) if isinstance(data, dict) else (None, None)
        if name not in self.world.token_ids:
            return Response(400, {"error": f"name must be one of {', '.join(self.world.token_ids)}"})
        if how != "repair" and how not in BREAKS:
            return Response(400, {"error": f"how must be repair or one of {', '.join(BREAKS)}"})
        if how == "repair":
            self.world.repair(name)
            done = "repaired: active, its policy and expiry as seeded, the live value in the vault"
        else:
            done = self.world.break_token(name, how)
        job_queue(self.sandbox.redis).enqueue(SCAN_JOB, job_timeout=600)
        return Response(200, {"ok": True, "done": f"{name}: {done}; a scan is queued"})

    def break_sync(self, request: Request) -> Response:
        """{"name": "gh-deploy" | "cf-worker-edge", "how": "fail" | "repair"}: the sync's destination refuses every
        run, or answers again."""
        try:
            data = request.json()
        except ValueError:
            data = None
        name, how = (data.get("name"), data.get("how", "fail")) if isinstance(data, dict) else (None, None)
        names = [sync["name"] for sync in self.world.infisical.syncs.list()]
        if name not in names or how not in ("fail", "repair"):
            return Response(400, {"error": f"name must be one of {', '.join(names)}; how fail or repair"})
        return Response(200, {"ok": True, "done": self.world.break_sync(name, how)})

    def _json(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        try:
            data = request.json()
        except ValueError:
            return {}, Response(400, {"error": "expected a JSON body"})
        if not isinstance(data, dict) or data.get("user") not in self.sandbox.people:
            return {}, Response(400, {"error": f"user must be one of {', '.join(self.sandbox.people)}"})
        return data, None

    def _deliver(self, body: str, headers: dict[str, str], user: str, *, show_ack: bool,
                 submitted: str | None = None) -> None:
        """POST a signed request to the bot off the stand-in's lock; show its ack (or Slack's error) to `user`; for
        a modal `submitted`, close it, or keep it open with the errors the bot answered, as Slack does."""

        def post() -> None:
            try:
                answer = self.http.post(self.sandbox.bot_url + "/slack/events", content=body, headers=headers)
                if submitted is not None:
                    self._close_or_keep(submitted, answer)
            except httpx.TimeoutException:
                self._tell(user, {"text": '/cftoken failed with the error "operation_timeout"'})
                return
            except httpx.TransportError:
                self._tell(user, {"text": '/cftoken failed with the error "dispatch_failed" (the bot is not running)'})
                return
            if answer.status_code != 200:
                error = f"http_service_error ({answer.status_code})"
                self._tell(user, {"text": f'/cftoken failed with the error "{error}"'})
            elif show_ack:
                try:
                    payload = command_answer(answer.text)
                except Refused as refused:
                    self.slack.record_refusal("ack", refused, answer.text)
                    payload = {"text": f'/cftoken failed with the error "{refused.error}"'}
                if payload is not None:
                    self._tell(user, payload)

        threading.Thread(target=post, name="sandbox-deliver", daemon=True).start()

    def _close_or_keep(self, view_id: str, answer: httpx.Response) -> None:
        try:
            ack = answer.json() if answer.status_code == 200 and answer.content else {}
        except ValueError:
            ack = {}
        errors = ack.get("errors") if isinstance(ack, dict) and ack.get("response_action") == "errors" else None
        if isinstance(errors, dict) and errors:
            self.slack.keep_view_open(view_id, {str(k): str(v) for k, v in errors.items()})
        else:
            self.slack.close_view(view_id)

    def _tell(self, user: str, payload: dict[str, Any]) -> None:
        """Record a message as Slack does for a command's immediate answer: through a fresh response_url."""
        url = self.slack.new_response_url(user, CHANNEL)
        self.http.post(url, json=payload)
