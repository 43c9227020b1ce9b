"""An embedded Redis stand-in (fakeredis over TCP) for tests and the sandbox when no real Redis answers."""

from __future__ import annotations

import threading

import redis


def answers(url: str) -> bool:
    """True when a Redis server answers PING at `url`."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class EmbeddedRedis:
    """fakeredis served on a loopback TCP port, so separate processes (web, workers) share one state."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from fakeredis import TcpFakeServer  # dev/sandbox dependency, imported only when used

        self._server = TcpFakeServer((host, port), server_type="redis")
        # A client blocked in BLPOP (an idle rq worker) keeps its handler thread alive: never wait for it on stop.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-redis", daemon=True)

    def start(self) -> EmbeddedRedis:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"redis://{host}:{port}/0"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
