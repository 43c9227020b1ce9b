"""A small real HTTP server on loopback with routes, inspectable state, a request log and switchable faults.

Every stand-in (Cloudflare, Infisical, FreeScout, Slack) subclasses StandIn and registers routes with
`self.route(method, pattern, handler)`. Handlers take a Request and return a Response. Tests and the
sandbox start a stand-in with `start()` (port 0 by default) and read `url`.

Faults, switched on by tests:
    hold = standin.faults.hold("/client/v4/user/tokens/abc/value", method="PUT")   # park the next such call;
    hold.wait_until_arrived(); ...; hold.release(proceed=False)                   # then drop (or handle) it
    standin.faults.latency = 0.05                        # every request waits 50 ms first
    standin.faults.fail_next("/user/tokens", 2, "429", retry_after=1)
    standin.faults.fail_next("/api/v4/secrets", 1, "500")
    standin.faults.fail_next("/api/conversations", 1, "drop")   # close the socket, no response
    standin.faults.fail_next("/client/v4/zones", 1, "409")      # any other status: an answer the bot never met
A fault applies to requests whose path starts with the given prefix (and, if given, whose method matches).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from standins import answer_schemas

# How long a test waits for an event another thread or process causes (a call arriving, a message posted) before
# it fails: generous, because waits poll and end at the event, so only a real failure waits it out, and a busy
# machine (CI beside other builds, two suites at once) is not one.
WAIT_CEILING = 60.0


class Clock:
    """The stand-ins' notion of now: real time plus an offset that the sandbox can fast-forward."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset


def iso(moment: datetime) -> str:
    """Cloudflare-style UTC timestamp: 2018-07-01T05:20:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The JSON body; raises ValueError on a body that is not JSON."""
        if not self.body:
            return {}
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def bearer(self) -> str | None:
        value = self.header("authorization") or ""
        return value[7:].strip() if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and self.content_type != "application/json":
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class _Fault:
    prefix: str
    remaining: int
    kind: str
    retry_after: int
    method: str | None
    exact: bool = False
    containing: bytes = b""

    def matches(self, method: str, path: str, body: bytes = b"") -> bool:
        hit = path == self.prefix if self.exact else path.startswith(self.prefix)
        return hit and self.method in (None, method) and self.containing in body


class Hold:
    """A request parked inside the stand-in until released: lets a test kill a client mid-call."""

    def __init__(self, path: str, method: str | None, containing: bytes = b"") -> None:
        self.path, self.method, self.containing = path, method, containing
        self.arrived = threading.Event()
        self._released = threading.Event()
        self.proceed = True

    def wait_until_arrived(self, timeout: float = WAIT_CEILING) -> None:
        if not self.arrived.wait(timeout):
            raise TimeoutError(f"no {self.method or ''} request to {self.path} arrived within {timeout}s")

    def release(self, *, proceed: bool) -> None:
        """proceed=True: handle the request (its answer goes to whoever is still listening); False: drop it."""
        self.proceed = proceed
        self._released.set()

    def wait_for_release(self, timeout: float = WAIT_CEILING) -> bool:
        self._released.wait(timeout)
        return self.proceed


class Faults:
    """Switchable misbehaviour: latency for every request, the next N calls to a path failing, held requests."""

    KINDS = ("429", "500", "502", "503", "drop")

    def __init__(self) -> None:
        self.latency = 0.0
        self._pending: list[_Fault] = []
        self._holds: list[Hold] = []
        self._lock = threading.Lock()

    def fail_next(
        self,
        prefix: str,
        count: int = 1,
        kind: str = "500",
        *,
        retry_after: int = 1,
        method: str | None = None,
        exact: bool = False,
        containing: str = "",
    ) -> None:
        """The next `count` requests under `prefix` (or to exactly that path, whose body has `containing`) fail."""
        if kind not in self.KINDS and not (kind.isdigit() and 400 <= int(kind) < 600):
            raise ValueError(f"fault kind must be one of {self.KINDS} or another 4xx/5xx status")
        with self._lock:
            self._pending.append(_Fault(prefix, count, kind, retry_after, method, exact, containing.encode()))

    def hold(self, path: str, *, method: str | None = None, containing: str = "") -> Hold:
        """Park the next request to exactly `path` (and `method`, with `containing` in its body) until released."""
        hold = Hold(path, method, containing.encode())
        with self._lock:
            self._holds.append(hold)
        return hold

    def take_hold(self, method: str, path: str, body: bytes = b"") -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.path == path and hold.method in (None, method) and hold.containing in body:
                    self._holds.remove(hold)
                    return hold
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            for hold in self._holds:
                hold.release(proceed=False)
            self._holds.clear()
            self.latency = 0.0

    def take(self, method: str, path: str, body: bytes = b"") -> _Fault | None:
        with self._lock:
            for fault in self._pending:
                if fault.matches(method, path, body):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._pending.remove(fault)
                    return fault
        return None


Handler = Callable[[Request], Response]


class StandIn:
    """Base class: routing, request log, faults and a threaded HTTP/1.1 server bound to loopback."""

    name = "standin"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.faults = Faults()
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        self.connections = 0  # TCP connections accepted: a keep-alive client opens one
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` and a path pattern such as r"/user/tokens/(?P<token_id>[^/]+)"."""
        self._routes.append((method, re.compile(pattern + r"/?$"), handler))

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": "not found", "path": request.path})

    def fault_response(self, fault: _Fault) -> Response:
        """How this service says 429 or 5xx; subclasses override to match their real error bodies."""
        if fault.kind == "429":
            return Response(429, {"error": "rate limited"}, {"Retry-After": str(fault.retry_after)})
        return Response(int(fault.kind), {"error": "internal error"})

    def dispatch(self, request: Request) -> Response | None:
        """Route one request and check a JSON answer against the service's schemas (standins/answer_schemas.py);
        None means 'drop the connection'."""
        response = self._answer(request)
        if response is not None and isinstance(response.body, (dict, list)):
            answer_schemas.check(self.name, request.method, request.path, response.status, response.body)
        return response

    def _answer(self, request: Request) -> Response | None:
        with self.lock:
            self.requests.append((request.method, request.path))
        fault = self.faults.take(request.method, request.path, request.body)
        if fault is not None:
            return None if fault.kind == "drop" else self.fault_response(fault)
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                with self.lock:
                    return handler(request)
        return self.not_found(request)

    def count(self, method: str | None = None, prefix: str = "") -> int:
        """How many requests arrived (optionally of one method, under one path prefix)."""
        with self.lock:
            return sum(1 for m, p in self.requests if (method in (None, m)) and p.startswith(prefix))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        standin = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def setup(self) -> None:
                super().setup()
                with standin.lock:
                    standin.connections += 1

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                if standin.faults.latency:
                    time.sleep(standin.faults.latency)
                hold = standin.faults.take_hold(request.method, request.path, request.body)
                if hold is not None:
                    hold.arrived.set()
                    if not hold.wait_for_release():
                        self.close_connection = True
                        return
                response = standin.dispatch(request)
                if response is None:
                    self.close_connection = True
                    return
                payload = response.encoded()
                self.send_response(response.status)
                if payload or response.status not in (204, 304):
                    self.send_header("Content-Type", response.content_type)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class _Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128

        self._server = _Server((host, port), _Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-standin", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(standin: StandIn, port: int) -> None:
    """Command-line entry: run one stand-in in the foreground until Ctrl-C."""
    standin.start(port=port)
    print(f"{standin.name} stand-in listening on {standin.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
