"""The web process's HTTP server: waitress, with a deadline on reading each request.

    python -m bot.serve bot.web:application --listen 0.0.0.0:$PORT      # the Procfile's `web`

Why waitress: its I/O loop reads and buffers a whole request (headers and body) before a worker thread sees it,
so a client that sends slowly holds a socket, not a thread, and signed requests keep being answered beside a
few dozen slow ones (`python -m bench slow` measures it). Waitress bounds idleness, not total time, so a
client trickling one byte a second would keep its socket for ever; here a request still incomplete
READ_SECONDS after its first byte is dropped. Bodies above MAX_BODY_BYTES are refused (413) unread.
"""

from __future__ import annotations

import argparse
import errno
import importlib
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
CONNECTION_LIMIT = 1000
THREADS = 8
BIND_ATTEMPTS = 5


class DeadlineChannel(HTTPChannel):
    """A connection that remembers when its current request's first byte arrived."""

    request_began = 0.0

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_began = time.monotonic()
        return super().received(data)


class DeadlineServer(TcpWSGIServer):
    """Waitress's server, also closing connections whose request is not complete within `read_seconds`."""

    channel_class = DeadlineChannel

    def __init__(self, application: Callable[..., Any], *, read_seconds: float = READ_SECONDS, **kw: Any) -> None:
        self.read_seconds = read_seconds
        super().__init__(application, **kw)

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.read_seconds
        for channel in list(self.active_channels.values()):
            if channel.request is not None and channel.request_began < cutoff:
                channel.will_close = True


def make_server(application: Callable[..., Any], host: str, port: int, **overrides: Any) -> DeadlineServer:
    """The configured server, bound and ready to `run()`; `overrides` are waitress adjustments (for tests).

    A port still held by a process that is stopping is tried again for a few seconds, as gunicorn does.
    """
    settings: dict[str, Any] = {
        "threads": THREADS, "channel_timeout": IDLE_SECONDS, "cleanup_interval": 1,
        "max_request_body_size": MAX_BODY_BYTES, "max_request_header_size": MAX_HEADER_BYTES,
        "connection_limit": CONNECTION_LIMIT, "ident": "cftoken", "expose_tracebacks": False,
        **overrides,
    }
    for attempt in range(BIND_ATTEMPTS):
        try:
            return DeadlineServer(application, host=host, port=port, **settings)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or attempt == BIND_ATTEMPTS - 1:
                raise
            print(f"cftoken web: {host}:{port} is in use, trying again", file=sys.stderr, flush=True)
            time.sleep(1)
    raise AssertionError("unreachable")


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
