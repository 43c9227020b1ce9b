"""Acknowledgement time of /cftoken under gunicorn: N signed slash commands at C concurrent connections.

    python -m bench.ack                       # 500 `/cftoken list` at 50 concurrent connections
    python -m bench.ack --text help --requests 1000 --concurrency 100 --workers 4

Starts the Slack stand-in and `gunicorn bot.web:application` (gthread), uses REDIS_URL when it answers (else an
embedded fakeredis), and prints p50 / p99 / max of the time from sending a request to Slack's 200.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from standins.redis_server import EmbeddedRedis, answers
from standins.slack import SlackStandIn, seed
from standins.slack_requests import slash_command

SECRET = "bench-signing-secret"
CHANNEL, USER = "C0SRE0001", "U0ALICE01"
REPO = Path(__file__).resolve().parents[1]


def start_gunicorn(redis_url: str, slack_url: str, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ, "REDIS_URL": redis_url, "SLACK_API_URL": slack_url + "/api/",
        "SLACK_BOT_TOKEN": "xoxb-standin-token", "SLACK_SIGNING_SECRET": SECRET, "CFTOKEN_CHANNEL_ID": CHANNEL,
        "CFTOKEN_APPROVERS": "U0ALICE01,U0BOB0002", "INFISICAL_CLIENT_ID": "bench",
        "INFISICAL_CLIENT_SECRET": "bench", "INFISICAL_PROJECT_ID": "bench",
    }  # fmt: skip
    env.pop("SLACK_APP_TOKEN", None)
    command = [sys.executable, "-m", "gunicorn", "bot.web:application", "--bind", "127.0.0.1:0",
               "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
               "--backlog", "512"]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in process.stderr:
            match = re.search(r"Listening at: (http://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()

    threading.Thread(target=drain, daemon=True).start()
    if not ready.wait(20):
        process.terminate()
        raise SystemExit("gunicorn did not start")
    return process, found[0]


def wait_healthy(url: str) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("the web process never became healthy")


def run(url: str, slack: SlackStandIn, text: str, requests: int, concurrency: int) -> list[float]:
    """Send `requests` signed slash commands over `concurrency` keep-alive connections; return ack times (s)."""
    parts = urlsplit(url)
    local = threading.local()
    signed = [slash_command(signing_secret=SECRET, text=text, user_id=USER, channel_id=CHANNEL,
                            response_url=slack.new_response_url(USER, CHANNEL)) for _ in range(requests)]  # fmt: skip
    barrier = threading.Barrier(concurrency)

    def one(index: int) -> float:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            barrier.wait()  # every connection open before the clock starts
        body, headers = signed[index]
        started = time.perf_counter()
        local.connection.request("POST", "/slack/events", body=body, headers=headers)
        response = local.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"request {index} answered {response.status}")
        return elapsed

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, range(requests)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=25, help="gunicorn threads per worker")
    parser.add_argument("--text", default="list", help="what follows /cftoken")
    args = parser.parse_args(argv)

    embedded = None
    redis_url = os.environ.get("REDIS_URL", "")
    if not (redis_url and answers(redis_url)):
        embedded = EmbeddedRedis().start()
        redis_url = embedded.url
    slack = seed(SlackStandIn()).start()
    process, url = start_gunicorn(redis_url, slack.url, args.workers, args.threads)
    try:
        wait_healthy(url)
        run(url, slack, args.text, min(args.concurrency, args.requests), args.concurrency)  # warm-up
        times = run(url, slack, args.text, args.requests, args.concurrency)
        answered = len([m for m in slack.messages(CHANNEL, visible_to=USER) if m.ephemeral_for == USER])
    finally:
        process.terminate()
        process.wait(timeout=10)
        slack.stop()
        if embedded is not None:
            embedded.stop()
    ms = [t * 1000 for t in times]
    print(
        f"/cftoken {args.text}: {len(ms)} requests, {args.concurrency} concurrent, gunicorn "
        f"{args.workers}x{args.threads} gthread, redis {'real' if embedded is None else 'embedded fakeredis'}\n"
        f"ack p50 {percentile(ms, 0.50):.1f} ms  p99 {percentile(ms, 0.99):.1f} ms  max {max(ms):.1f} ms  "
        f"mean {statistics.fmean(ms):.1f} ms; {answered} answers posted to the stand-in so far"
    )


if __name__ == "__main__":
    main()
