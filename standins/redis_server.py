"""Redis servers a process starts and owns: a real `redis-server` on a free loopback port, or the embedded
fakeredis stand-in when the binary is not installed. The sandbox and the benchmarks use only these, never the
Redis at REDIS_URL, so they cannot delete another bot's data.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Protocol

import redis

START_TIMEOUT_SECONDS = 10.0
REAP_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


def answers(url: str) -> bool:
    """True when a Redis server answers PING at `url`."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class OwnedRedis(Protocol):
    """A Redis server this process started; `label` says which kind and where, for a run line or a report."""

    url: str
    label: str

    def stop(self) -> None: ...


class EmbeddedRedis:
    """fakeredis served on a loopback TCP port, so separate processes (web, workers) share one state.

    Unlike Redis, fakeredis keeps a client that went away while blocked in BLPOP (an idle rq worker that was
    stopped) and hands it the next item pushed, which is then lost: a job nobody runs. A reaper unblocks such
    waiters, as Redis drops them, so a stopped worker cannot swallow the next worker's job.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, reason: str = "") -> None:
        from fakeredis import TcpFakeServer  # dev/sandbox dependency, imported only when used

        self._server = TcpFakeServer((host, port), server_type="redis")
        # A client blocked in BLPOP (an idle rq worker) keeps its handler thread alive: never wait for it on stop.
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._reason = reason
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-redis", daemon=True)
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap_gone_waiters, name="embedded-redis-reaper", daemon=True)

    def start(self) -> EmbeddedRedis:
        self._thread.start()
        self._reaper.start()
        return self

    def _reap_gone_waiters(self) -> None:
        while not self._stopped.wait(REAP_SECONDS):
            for client in list(self._server.clients.values()):
                fake = client.get_socket()
                if getattr(fake, "_blocked", False) and _peer_gone(fake._client_info.get("fd")):
                    with fake._db.condition:  # what CLIENT UNBLOCK … TIMEOUT does: the wait ends empty
                        fake._unblock_reason = b"timeout"
                        fake._db.condition.notify_all()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"redis://{host}:{port}/0"

    @property
    def label(self) -> str:
        host, port = self._server.server_address[:2]
        return f"embedded fakeredis on {host}:{port}" + (f" ({self._reason})" if self._reason else "")

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()


class RedisServer:
    """A `redis-server` child on a free loopback port with no persistence, stopped by `stop()` or when this
    process dies (PR_SET_PDEATHSIG: start it from the main thread), so it never outlives its owner; in a session
    of its own, so a terminal's Ctrl-C reaches the owner, which stops it last. `restart()` keeps the port and loses the
    data, as a Heroku Redis restart does."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = 0
        self._folder = tempfile.TemporaryDirectory(prefix="cftoken-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def label(self) -> str:
        return f"its own redis-server on 127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        for _ in range(5):  # a free port can be taken between the probe and redis-server's bind: try another
            self.port = self.port or _free_port()
            if self._launch():
                return self
            self.port = 0
        raise RuntimeError(f"{self.binary} did not start on a free port")

    def restart(self) -> None:
        """Stop the server (its data is gone) and start an empty one on the same port."""
        self._terminate()
        if not self._launch():
            raise RuntimeError(f"{self.binary} did not start again on port {self.port}")

    def stop(self) -> None:
        self._terminate()
        self._folder.cleanup()

    def _launch(self) -> bool:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", self._folder.name, "--daemonize", "no", "--loglevel", "warning"]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if answers(self.url):
                return True
            time.sleep(0.05)
        self._terminate()
        return False

    def _terminate(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def start_owned_redis(*, fakeredis: bool = False) -> OwnedRedis:
    """A real redis-server when the binary is installed (unless `fakeredis`), else the embedded fakeredis."""
    binary = None if fakeredis else shutil.which("redis-server")
    if binary is None:
        return EmbeddedRedis(reason="as asked" if fakeredis else "redis-server is not installed").start()
    return RedisServer(binary).start()


def _peer_gone(fd: int | None) -> bool:
    """True when the client at the other end of server-side socket `fd` has closed it (a peek reads EOF)."""
    if fd is None:
        return False
    probe = socket.socket(fileno=os.dup(fd))
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        probe.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGTERM when the parent dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
