"""The web process's HTTP server: waitress, with a deadline on reading each request.

    python -m bot.serve bot.web:application --listen 0.0.0.0:$PORT      # the Procfile's `web`

Why waitress: its I/O loop reads and buffers a whole request (headers and body) before a worker thread sees it,
so a client that sends slowly holds a socket, not a thread, and signed requests keep being answered beside a
few dozen slow ones (`python -m bench slow` measures it). Waitress bounds idleness, not total time, so a
client trickling one byte a second would keep its socket for ever; here a request still incomplete
READ_SECONDS after its first byte is dropped. Bodies above MAX_BODY_BYTES are refused (413) unread.

Connections: waitress's default limit of 1,000 let 1,100 connections that say nothing keep genuine requests in the
kernel's backlog (issue 23: 4 of 6 commands answered after 3 s or never). Here up to CONNECTION_LIMIT are held
(an idle connection costs a few kB; poll() instead of select(), which stops at 1,024 descriptors; the process's
descriptor limit is raised to fit), and when the limit is reached anyway the connections with no request in
progress are closed first, the longest-silent first: those that never sent a byte, then idle keep-alives.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import resource
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

READ_SECONDS = 10  # a Slack request is a few kB: any honest client sends it in well under a second
IDLE_SECONDS = 30  # a keep-alive connection with nothing to say is closed after this
MAX_BODY_BYTES = 256 * 1024  # Slack's largest payloads (a click carrying a 50-block message) stay far below
MAX_HEADER_BYTES = 32 * 1024
CONNECTION_LIMIT = 10_000
EVICT_SHARE = 10  # at the limit, close this share (1/10) of it, silent connections first
ACCEPT_BATCH = 256  # connections accepted per turn of the loop
FULL_LOG_SECONDS = 60.0  # "at the limit" is logged at most once a minute

log = logging.getLogger(__name__)
THREADS = 8
BIND_ATTEMPTS = 5


class DeadlineChannel(HTTPChannel):
    """A connection that remembers when its current request's first byte arrived."""

    request_began = 0.0
    spoke = False  # has this connection ever sent a byte?

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_began = time.monotonic()
            self.spoke = True
        return super().received(data)

    @property
    def silent(self) -> bool:
        """Nothing in progress: no request being read or answered, nothing left to send."""
        return self.request is None and not self.requests and not self.total_outbufs_len and not self.will_close


class DeadlineServer(TcpWSGIServer):
    """Waitress's server, also closing connections whose request is not complete within `read_seconds`."""

    channel_class = DeadlineChannel
    last_said_full = -FULL_LOG_SECONDS - 1.0

    def __init__(self, application: Callable[..., Any], *, read_seconds: float = READ_SECONDS, **kw: Any) -> None:
        self.read_seconds = read_seconds
        super().__init__(application, **kw)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_seconds
        for channel in list(self.active_channels.values()):
            if channel.request is not None and channel.request_began < cutoff:
                channel.will_close = True

    def readable(self) -> bool:
        """Accept while under the limit; at the limit, make room by closing silent connections (waitress's own
        readable, whose overflow is otherwise the same, would wait for them to time out)."""
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if len(self._map) < self.adj.connection_limit:
            return True
        closing = sum(1 for channel in self.active_channels.values() if channel.will_close)
        if len(self._map) - closing >= self.adj.connection_limit:
            closed = self.evict_silent(max(1, self.adj.connection_limit // EVICT_SHARE))
            if time.monotonic() - self.last_said_full > FULL_LOG_SECONDS:
                self.last_said_full = time.monotonic()
                log.warning("cftoken web: %s connections open (the limit): closing %s with nothing in progress, the "
                            "longest-silent first", f"{self.adj.connection_limit:,}", closed)
        return False  # the closed ones leave on the loop's next turn, and it accepts again

    def handle_accept(self) -> None:
        """Accept every connection waiting (up to ACCEPT_BATCH), not one per turn of the loop: each turn visits
        every open connection, so one at a time made a burst of thousands take seconds to get through, and a
        genuine request waited behind it."""
        for _ in range(ACCEPT_BATCH):
            if len(self._map) >= self.adj.connection_limit:
                return
            before = len(self._map)
            super().handle_accept()
            if len(self._map) == before:  # nothing more was waiting (or accept failed)
                return

    def evict_silent(self, count: int) -> int:
        """Close up to `count` connections with nothing in progress: those that never spoke, then idle keep-alives,
        the longest-silent first (closed on the loop's next turn). Returns how many."""
        silent = [channel for channel in self.active_channels.values() if channel.silent]
        silent.sort(key=lambda channel: (channel.spoke, channel.last_activity))
        for channel in silent[:count]:
            channel.will_close = True
        return min(count, len(silent))


def make_server(application: Callable[..., Any], host: str, port: int, **overrides: Any) -> DeadlineServer:
    """The configured server, bound and ready to `run()`; `overrides` are waitress adjustments (for tests).

    A port still held by a process that is stopping is tried again for a few seconds, as gunicorn does.
    """
    settings: dict[str, Any] = {
        "threads": THREADS, "channel_timeout": IDLE_SECONDS, "cleanup_interval": 1,
        "max_request_body_size": MAX_BODY_BYTES, "max_request_header_size": MAX_HEADER_BYTES,
        "connection_limit": CONNECTION_LIMIT, "asyncore_use_poll": True, "backlog": 2048,
        "ident": "cftoken", "expose_tracebacks": False,
        **overrides,
    }
    allow_descriptors(settings["connection_limit"] + 64)
    for attempt in range(BIND_ATTEMPTS):
        try:
            return DeadlineServer(application, host=host, port=port, **settings)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS - 1:
                raise
            print(f"cftoken web: {host}:{port} is in use, trying again", file=sys.stderr, flush=True)
            time.sleep(1)
    raise AssertionError("unreachable")


def allow_descriptors(wanted: int) -> None:
    """Raise this process's open-file limit towards `wanted` (never past the hard limit it may not exceed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def load_application(spec: str) -> Callable[..., Any]:
    """`module:attribute`, as gunicorn and waitress-serve name a WSGI callable (looked up, so it may build)."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or "application")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a WSGI application with cftoken's bounded waitress.")
    parser.add_argument("application", help="module:attribute, e.g. bot.web:application")
    parser.add_argument("--listen", default="127.0.0.1:8000", help="host:port (port 0 picks a free one)")
    parser.add_argument("--threads", type=int, default=THREADS)
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    application = load_application(args.application)
    try:
        server = make_server(application, host, int(port), threads=args.threads)
    except OSError as error:
        print(f"cftoken web: cannot listen on {args.listen}: {error.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Listening at: http://{server.effective_host}:{server.effective_port}", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
