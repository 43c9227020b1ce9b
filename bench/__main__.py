"""`python -m bench` (make bench): every benchmark, then one report. `python -m bench ack` (or approval, scan)
runs one (or slow: signed commands beside slow clients).

Redis: REDIS_URL when a server answers there (THE BENCHMARK FLUSHES THAT DATABASE: give it a spare one, e.g.
`REDIS_URL=redis://127.0.0.1:6379/6 make bench`), else an embedded fakeredis server (slower: numbers then
measure fakeredis as much as cftoken). Everything else runs on 127.0.0.1 and is stopped before the exit.
"""

from __future__ import annotations

import os
import sys
import time

import redis
from pydantic import SecretStr

from bench import ack, approval, scan, slow
from domain import integrity
from standins.redis_server import EmbeddedRedis, answers
from standins.world import SECRET_KEY

BENCHES = {"ack": ack.main, "approval": approval.main, "scan": scan.main, "slow": slow.main}


def main() -> None:
    chosen = sys.argv[1:2] or list(BENCHES)
    integrity.use_key(SecretStr(SECRET_KEY))  # the benches read request records the web signs with the world's key
    extra = sys.argv[2:]
    embedded = None
    redis_url = os.environ.get("REDIS_URL", "")
    if not (redis_url and answers(redis_url)):
        embedded = EmbeddedRedis().start()
        redis_url = embedded.url
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
        if embedded is not None:
            embedded.stop()
    print(
        f"cftoken benchmarks — {os.cpu_count()} CPUs, Redis {'at REDIS_URL' if embedded is None else 'fakeredis'}, "
        f"{time.monotonic() - started:.0f} s\n"
    )
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
