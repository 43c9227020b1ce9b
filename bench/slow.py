"""Slow and idle clients beside real traffic: signed commands answered while N connections trickle a body at
1 byte/s, and while N connections are open and say nothing.

    python -m bench slow                                   # N = 0, 16, 40, 200; 60 signed verify commands each;
                                                           # then idle N = 1100, 2000 (past waitress's old 1,000)
    python -m bench slow --slow 0 40 --requests 30 --idle 1100

Each slow client sends its headers at once, declares a 100 kB body and then sends one byte a second, as in
issue 11 (where 16 such clients starved two of three signed commands and 40 starved all of them). A client the
server drops opens a new connection at once, so the pressure stays at N for the whole run. The signed
`/cftoken verify` commands go to the Procfile's own `web` from the separate load client at concurrency 5.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from bench.ack import commands, load, raw
from bench.load import read_response
from bench.processes import start_web
from bench.tables import percentile, table, verdict
from bot.serve import CONNECTION_LIMIT, READ_SECONDS
from domain.queueing import job_queue
from standins.world import World

SLOW_LEVELS = (0, 16, 40, 200)
IDLE_LEVELS = (1100, 2000)
IDLE_COMMANDS = 20  # signed commands per idle level, each on a new connection as Slack opens one
DECLARED_BYTES = 100_000
ANSWERED_WITHIN_MS = 3000.0


class SlowClients:
    """`count` connections that each declare a large body and send it at one byte per `interval` seconds."""

    def __init__(self, host: str, port: int, count: int, *, interval: float = 1.0, reconnect: bool = True) -> None:
        self.host, self.port, self.count = host, port, count
        self.interval, self.reconnect = interval, reconnect
        self.dropped_after: list[float] = []  # seconds each dropped connection had been open
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SlowClients:
        self._sockets = [self._open() for _ in range(self.count)]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock, _ in self._sockets:
            sock.close()

    def _open(self) -> tuple[socket.socket, float]:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        head = (f"POST /slack/events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {DECLARED_BYTES}\r\n\r\n")
        sock.sendall(head.encode())
        sock.setblocking(False)
        return sock, time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for index, (sock, opened) in enumerate(self._sockets):
                if self._stop.is_set():
                    return
                try:
                    if sock.recv(1024) == b"":
                        raise ConnectionError("closed by the server")
                except BlockingIOError:
                    pass  # nothing from the server yet: still being read, keep trickling
                except OSError:
                    self._dropped(index, sock, opened)
                    continue
                try:
                    sock.send(b"x")
                except OSError:
                    self._dropped(index, sock, opened)

    def _dropped(self, index: int, sock: socket.socket, opened: float) -> None:
        self.dropped_after.append(time.monotonic() - opened)
        sock.close()
        if self.reconnect:
            try:
                self._sockets[index] = self._open()
            except OSError:
                pass


class IdleClients:
    """`count` TCP connections that say nothing; one the server closes is opened again at once (the pressure stays)."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.host, self.port, self.count = host, port, count
        self.closed_by_server = 0
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> IdleClients:
        for _ in range(self.count):
            self._open()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()

    def _open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((self.host, self.port))  # completes in the kernel's backlog even when not accepted
        self._selector.register(sock, selectors.EVENT_READ)

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(1024)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_server += 1
                    self._selector.unregister(sock)
                    sock.close()  # type: ignore[union-attr]
                    if not self._stop.is_set():
                        self._open()


def fresh_connection_commands(host: str, port: int, signed: list[bytes], concurrency: int = 2
                              ) -> tuple[list[float], int]:
    """Send each request on a new connection; (ms from connect to the last byte of each 200, failures)."""
    times: list[float] = []
    failures = 0
    lock = threading.Lock()
    pending = iter(signed)

    def client() -> None:
        nonlocal failures
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                return
            started = time.perf_counter()
            try:
                with socket.create_connection((host, port), timeout=10) as sock:
                    sock.sendall(request)
                    status = read_response(sock, bytearray())
            except OSError:
                status = 0
            with lock:
                if status == 200:
                    times.append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, failures


def measure_idle(world: World, web_url: str, levels: list[int], conn: redis.Redis) -> list[list[object]]:
    host, port = web_url.removeprefix("http://").split(":")
    rows = []
    for count in levels:
        idle = IdleClients(host, int(port), count).start()
        try:
            time.sleep(2)  # every idle connection is open (accepted, or waiting in the backlog)
            signed = [raw(web_url, *s) for s in commands(world, ["verify CF_WAF_EDIT_RAXX_APP"] * IDLE_COMMANDS)]
            ms, failures = fresh_connection_commands(host, int(port), signed)
        finally:
            idle.stop()
            job_queue(conn).empty()
        late = sum(1 for value in ms if value > ANSWERED_WITHIN_MS) + failures
        rows.append([count, IDLE_COMMANDS, f"{percentile(ms, 0.5):.1f}", f"{percentile(ms, 0.99):.1f}",
                     f"{max(ms, default=0):.1f}", late, idle.closed_by_server])
        print(f"  idle={count:<5} p99 {percentile(ms, 0.99):7.1f} ms, late or failed {late}", file=sys.stderr,
              flush=True)
    return rows


def measure(args: argparse.Namespace, redis_url: str, conn: redis.Redis) -> list[list[object]]:
    world = World.start()
    workdir = Path(tempfile.mkdtemp(prefix="cftoken-bench-slow-"))
    web = start_web(world.settings_env(redis_url=redis_url))
    host, port = web.url.removeprefix("http://").split(":")
    rows = []
    try:
        load(web.url, [raw(web.url, *c) for c in commands(world, ["help"] * 20)], 5, workdir)  # warm up
        args.idle_rows = measure_idle(world, web.url, args.idle, conn)
        for count in args.slow:
            slow = SlowClients(host, int(port), count).start()
            try:
                time.sleep(2)  # every slow client has started its body
                signed = commands(world, ["verify CF_WAF_EDIT_RAXX_APP"] * args.requests)
                run = load(web.url, [raw(web.url, *s) for s in signed], 5, workdir)
                if count:
                    time.sleep(READ_SECONDS + 2)  # long enough to see the server drop the first round
            finally:
                slow.stop()
                job_queue(conn).empty()
            late = sum(1 for ms in run["ms"] if ms > ANSWERED_WITHIN_MS) + len(run["errors"])
            drops = sorted(slow.dropped_after)
            rows.append([
                count, len(run["ms"]), f"{percentile(run['ms'], 0.5):.1f}", f"{percentile(run['ms'], 0.99):.1f}",
                f"{max(run['ms'], default=0):.1f}", late,
                f"{percentile(drops, 0.5):.1f} s" if drops else "—", len(drops),
            ])
            print(f"  slow={count:<4} p99 {percentile(run['ms'], 0.99):7.1f} ms, late or failed {late}",
                  file=sys.stderr, flush=True)
    finally:
        web.stop()
        world.stop()
    return rows


def report(rows: list[list[object]], idle_rows: list[list[object]]) -> str:
    headers = ["slow clients", "signed commands", "p50 ms", "p99 ms", "max ms", "> 3 s or failed",
               "slow client dropped after (median)", "slow connections dropped"]
    idle_headers = ["idle connections", "signed commands (new connection each)", "p50 ms", "p99 ms", "max ms",
                    "> 3 s or failed", "idle connections closed by the web"]
    late = sum(int(row[5]) for row in rows) + sum(int(row[5]) for row in idle_rows)
    return "\n".join([
        f"Signed commands beside idle connections (open, never a byte; the web holds up to {CONNECTION_LIMIT:,} "
        "and, when full, closes the longest-silent first)",
        "",
        table(idle_headers, idle_rows),
        "",
        f"Signed commands beside slow clients (1 byte/s of a declared {DECLARED_BYTES // 1000} kB body; "
        f"the web drops a request not complete {READ_SECONDS} s after its first byte)",
        "",
        table(headers, rows),
        "",
        f"every signed command answered within 3 s: {late} late or failed ({verdict(late == 0)})",
    ])


def main(argv: list[str] | None = None, *, conn: redis.Redis, redis_url: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, nargs="+", default=list(SLOW_LEVELS))
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--idle", type=int, nargs="*", default=list(IDLE_LEVELS))
    args = parser.parse_args(argv)
    rows = measure(args, redis_url, conn)
    return report(rows, args.idle_rows)
