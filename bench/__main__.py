"""`python -m bench` (make bench): every benchmark, then one report. `python -m bench ack` (or approval, scan)
runs one (or slow: signed commands beside slow clients).

Redis: a redis-server of the benchmark's own on a free loopback port (it flushes it between parts), never the one
at REDIS_URL; when the binary is not installed, the embedded fakeredis, labelled in the report (numbers then measure
fakeredis as much as cftoken). Everything runs on 127.0.0.1 and is stopped before the exit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import redis
from pydantic import SecretStr

from bench import ack, approval, scan, slow
from domain import integrity
from standins.redis_server import start_owned_redis
from standins.world import SECRET_KEY

BENCHES = {"ack": ack.main, "approval": approval.main, "scan": scan.main, "slow": slow.main}


def main() -> None:
    fakeredis = "--fakeredis" in sys.argv[1:]
    args = [arg for arg in sys.argv[1:] if arg != "--fakeredis"]
    if args[:1] and args[0] not in BENCHES:
        argparse.ArgumentParser(prog="python -m bench").error(f"choose one of {', '.join(BENCHES)} (or none: all)")
    chosen = args[:1] or list(BENCHES)
    integrity.use_key(SecretStr(SECRET_KEY))  # the benches read request records the web signs with the world's key
    extra = args[1:]
    own = start_owned_redis(fakeredis=fakeredis)
    redis_url = own.url
    print(f"Redis: {own.label}", file=sys.stderr, flush=True)
    conn = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    reports = []
    try:
        for name in chosen:
            conn.flushdb()
            print(f"running {name} …", file=sys.stderr, flush=True)
            reports.append(BENCHES[name](extra, conn=conn, redis_url=redis_url))
    finally:
        conn.flushdb()
        conn.close()
        own.stop()
    print(f"cftoken benchmarks — {os.cpu_count()} CPUs, Redis: {own.label}, {time.monotonic() - started:.0f} s\n")
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
