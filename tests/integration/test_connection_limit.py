"""Connections beyond waitress's old limit of 1,000 (issue 23, finding 7): genuine signed commands are still answered
within 3 s while 1,100 and then 2,000 connections sit open saying nothing; and at the web's own limit, the
connections with nothing in progress are closed first (the longest-silent first) to make room."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bench.slow import IdleClients, SlowClients
from bot.serve import make_server
from standins.slack import SlackStandIn, seed
from tests.conftest import ENGINEER
from tests.integration.test_web_process import command, queued, web_process
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


def test_signed_commands_are_answered_within_3_s_beside_1100_and_2000_idle_connections(redis_url, slack, redis_conn):
    answers = []
    with web_process(redis_url, slack.url) as (web, _):
        host, port = web.removeprefix("http://").split(":")
        for count in (1100, 2000):
            idle = IdleClients(host, int(port), count).start()
            try:
                wait_until(lambda: _health_on_a_new_connection(host, int(port)), what=f"the web beside {count} idle")
                answers += [command(web, slack, "verify CF_PAGES_READ", ENGINEER) for _ in range(3)]
            finally:
                idle.stop()

    assert [status for status, _, _ in answers] == [200] * 6
    assert max(seconds for _, seconds, _ in answers) < 3, [round(s, 2) for _, s, _ in answers]
    assert len(queued(redis_conn, 6)) == 6


def _health_on_a_new_connection(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"hi\n"]


@pytest.fixture
def small_server():
    """The web's server around a trivial app, with a limit of 50 connections."""
    server = make_server(hello, "127.0.0.1", 0, connection_limit=50)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.task_dispatcher.shutdown()
    server.close()


def get_on_a_new_connection(server) -> tuple[bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", int(server.effective_port)), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(1024):
            answer += chunk
    return answer, time.monotonic() - started


def test_at_its_limit_the_server_closes_silent_connections_first_and_a_genuine_request_is_answered(small_server):
    slow = SlowClients("127.0.0.1", int(small_server.effective_port), 5, reconnect=False).start()  # requests in progress
    idle = IdleClients("127.0.0.1", int(small_server.effective_port), 80).start()
    try:
        wait_until(lambda: idle.closed_by_server > 0, what="the server to close an idle connection")
        answers = [get_on_a_new_connection(small_server) for _ in range(5)]
        slow_dropped = list(slow.dropped_after)
    finally:
        idle.stop()
        slow.stop()

    assert [answer.split(b"\r\n", 1)[0] for answer, _ in answers] == [b"HTTP/1.1 200 OK"] * 5
    assert max(seconds for _, seconds in answers) < 3
    assert slow_dropped == []  # a request being read is never closed to make room
