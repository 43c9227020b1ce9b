"""The Redis servers the sandbox, the benchmarks and the Redis-loss tests own: they start empty, serve separate
processes, and leave nothing behind; the embedded fallback loses no item to a client that went away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from standins.redis_server import EmbeddedRedis, RedisServer, answers, start_owned_redis

pytestmark = pytest.mark.integration


def blocked_then_killed(url: str) -> None:
    """A process blocked in BLPOP (an idle rq worker) that is killed while it waits."""
    script = f"import redis; c = redis.Redis.from_url({url!r}); c.ping(); print('ready', flush=True); c.blpop('q', 300)"
    waiter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert waiter.stdout.readline() == "ready\n"
    time.sleep(1.0)  # now inside BLPOP
    waiter.stdout.close()
    waiter.send_signal(signal.SIGKILL)
    waiter.wait()
    time.sleep(0.5)


@pytest.mark.parametrize("fakeredis", [False, True], ids=["redis-server", "embedded-fakeredis"])
def test_an_item_pushed_after_a_blocked_client_died_is_kept_for_the_next(fakeredis):
    own = start_owned_redis(fakeredis=fakeredis)
    try:
        blocked_then_killed(own.url)
        conn = redis.Redis.from_url(own.url)
        conn.rpush("q", "job-1")
        time.sleep(0.5)

        assert conn.blpop("q", 2) == (b"q", b"job-1")
    finally:
        own.stop()


def test_the_embedded_server_says_so_and_why():
    own = start_owned_redis(fakeredis=True)
    try:
        assert isinstance(own, EmbeddedRedis)
        assert own.label.startswith("embedded fakeredis on 127.0.0.1:") and own.label.endswith("(as asked)")
    finally:
        own.stop()


def test_a_redis_server_restart_loses_the_data_keeps_the_port_and_stop_leaves_no_process():
    own = start_owned_redis()
    assert isinstance(own, RedisServer)
    conn = redis.Redis.from_url(own.url)
    conn.set("k", "v")
    pid = own._process.pid

    own.restart()

    assert conn.get("k") is None and answers(own.url)
    own.stop()
    assert not answers(own.url)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
