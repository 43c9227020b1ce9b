"""Slow clients beside real traffic: signed commands answered while N connections trickle a body at 1 byte/s.

    python -m bench slow                                   # N = 0, 16, 40, 200; 60 signed verify commands each
    python -m bench slow --slow 0 40 --requests 30

Each slow client sends its headers at once, declares a 100 kB body and then sends one byte a second, as in
issue 11 (where 16 such clients starved two of three signed commands and 40 starved all of them). A client the
server drops opens a new connection at once, so the pressure stays at N for the whole run. The signed
`/cftoken verify` commands go to the Procfile's own `web` from the separate load client at concurrency 5.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from bench.ack import commands, load, raw
from bench.processes import start_web
from bench.tables import percentile, table, verdict
from bot.serve import READ_SECONDS
from domain.queueing import job_queue
from standins.world import World

SLOW_LEVELS = (0, 16, 40, 200)
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


def measure(args: argparse.Namespace, redis_url: str, conn: redis.Redis) -> list[list[object]]:
    world = World.start()
    workdir = Path(tempfile.mkdtemp(prefix="cftoken-bench-slow-"))
    web = start_web(world.settings_env(redis_url=redis_url))
    host, port = web.url.removeprefix("http://").split(":")
    rows = []
    try:
        load(web.url, [raw(web.url, *c) for c in commands(world, ["help"] * 20)], 5, workdir)  # warm up
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


def report(rows: list[list[object]]) -> str:
    headers = ["slow clients", "signed commands", "p50 ms", "p99 ms", "max ms", "> 3 s or failed",
               "slow client dropped after (median)", "slow connections dropped"]
    late = sum(int(row[5]) for row in rows)
    return "\n".join([
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
    args = parser.parse_args(argv)
    return report(measure(args, redis_url, conn))
