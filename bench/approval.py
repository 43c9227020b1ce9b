"""Run 2: from the final Approve click (verify: the command) to the result message in the Slack stand-in.

    python -m bench approval                  # 50 runs each of verify, roll and revoke, zero-latency stand-ins

`web` and one `worker` run from the Procfile's lines against the seeded world; runs are sequential, each waits
for its result message. Where the time goes comes from outside the code: the stand-ins' request times (a
timestamp is added to each request the stand-in receives), RQ's job record (enqueued_at, started_at) and the
HTTP answer to the click. The floor is what the external calls themselves cost: their number × the measured
loopback round trip to a stand-in.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import time
from dataclasses import dataclass, field

import httpx
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from bench.processes import Hit, Process, Timeline, start_web, start_worker
from bench.tables import percentile, table, verdict
from domain import requests
from domain.queueing import job_queue
from standins.base import Request
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL, SIGNING_SECRET, World

ALICE, BOB = APPROVERS
TOKENS = {"verify": "CF_WAF_EDIT_RAXX_APP", "roll": "CF_DNS_EDIT_GETRAXX_COM", "revoke": "CF_PAGES_DEPLOY"}
RESULT_TEXT = {"roll": "Rolled {}", "revoke": "Revoked {}"}
TARGET_MS = 300.0
WAIT = 30.0


@dataclass
class Run:
    total: float  # ms, click (or command) sent → result message at the Slack stand-in
    ack: float
    enqueued: float  # click → RQ enqueued_at
    started: float  # click → RQ started_at (the job running in the worker)
    first_call: float  # click → the worker's first external request
    calls: list[Hit] = field(default_factory=list)  # the worker's external requests, result post last


class Bench:
    def __init__(self, world: World, web: Process, conn: redis.Redis) -> None:
        self.world, self.conn = world, conn
        self.timeline = Timeline(
            {
                "slack": world.slack,
                "cloudflare": world.cloudflare,
                "infisical": world.infisical,
                "freescout": world.freescout,
            }
        )
        host, port = web.url.removeprefix("http://").split(":")
        self.web = http.client.HTTPConnection(host, int(port), timeout=10)
        self.queue = job_queue(conn)

    def post(self, signed: tuple[str, dict[str, str]]) -> float:
        body, headers = signed
        self.web.request("POST", "/slack/events", body=body, headers=headers)
        response = self.web.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"web answered {response.status}")
        return time.time()

    def command(self, text: str) -> tuple[str, dict[str, str]]:
        return slash_command(
            signing_secret=SIGNING_SECRET,
            text=text,
            user_id=ALICE,
            channel_id=CHANNEL,
            response_url=self.world.slack.new_response_url(ALICE, CHANNEL),
        )

    def wait(self, found, what: str) -> Hit:  # noqa: ANN001 - a queue from Timeline.expect
        try:
            return found.get(timeout=WAIT)
        except Exception:  # noqa: BLE001 - queue.Empty: say what did not arrive
            raise SystemExit(f"no {what} within {WAIT:.0f} s") from None
        finally:
            self.timeline.forget(found)

    def verify(self) -> Run:
        before = set(FinishedJobRegistry(queue=self.queue).get_job_ids())
        found = self.timeline.expect(lambda hit, _: hit.path == "/api/chat.postMessage")
        signed = self.command(f"verify {TOKENS['verify']}")
        sent = time.time()
        acked = self.post(signed)
        result = self.wait(found, "verify report")
        job_id = self._new_finished_job(before)
        return self._run(sent, acked, result, Job.fetch(job_id, connection=self.conn))

    def approved(self, action: str) -> Run:
        name = TOKENS[action]
        opened = self.timeline.expect(lambda hit, _: hit.path == "/api/chat.postMessage")
        self.post(self.command(f"{action} {name} benchmark"))
        self.wait(opened, "approval message")
        request = self._opened(name)
        marker = RESULT_TEXT[action].format(name).encode()
        found = self.timeline.expect(lambda hit, req: hit.path == "/api/chat.postMessage" and marker in req.body)
        click = self.world.signed_click("approve", request.id, user=BOB, message_ts=request.message_ts)
        sent = time.time()
        acked = self.post(click)
        result = self.wait(found, f"{action} result")
        job = Job.fetch(request.id, connection=self.conn)
        deadline = time.monotonic() + WAIT
        while job.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline:
            time.sleep(0.005)  # the job ends just after its result post; the next run must not race it
        return self._run(sent, acked, result, job)

    def _opened(self, name: str) -> requests.Request:
        """The pending request for `name`, once web has attached its message (just after Slack answered)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            now = self.world.clock.now()
            request = next((r for r in requests.open_requests(self.conn, now=now) if r.token == name), None)
            if request is not None and request.message_ts is not None:
                return request
            time.sleep(0.002)
        raise SystemExit(f"no pending request with a message for {name}")

    def _new_finished_job(self, before: set[str]) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            new = set(FinishedJobRegistry(queue=self.queue).get_job_ids()) - before
            if new:
                return new.pop()
            time.sleep(0.005)
        raise SystemExit("the verify job never finished")

    def _run(self, sent: float, acked: float, result: Hit, job: Job) -> Run:
        job.refresh()
        assert job.enqueued_at is not None and job.started_at is not None
        enqueued, started = _epoch(job.enqueued_at), _epoch(job.started_at)
        calls = [hit for hit in self.timeline.between(started, result.at) if not hit.path.startswith("/response/")]
        return Run(
            total=(result.at - sent) * 1000,
            ack=(acked - sent) * 1000,
            enqueued=(enqueued - sent) * 1000,
            started=(started - sent) * 1000,
            first_call=((calls[0].at if calls else result.at) - sent) * 1000,
            calls=calls,
        )


def _epoch(moment) -> float:  # noqa: ANN001 - a datetime from RQ (aware UTC, or naive UTC in older RQ)
    from datetime import UTC

    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def round_trip_ms(world: World) -> float:
    """One loopback request to a stand-in over a kept-alive httpx connection: the floor of one external call."""
    with httpx.Client(base_url=world.cloudflare.url) as client:
        times = []
        for _ in range(200):
            started = time.perf_counter()
            client.get("/bench-round-trip")
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(
    args: argparse.Namespace, conn: redis.Redis, redis_url: str
) -> tuple[dict[str, list[Run]], float, int]:
    world = World.start()
    started: list[Process] = []
    try:
        env = world.settings_env(redis_url=redis_url)
        web = start_web(env)
        started.append(web)
        worker = start_worker(env)
        started.append(worker)
        bench = Bench(world, web, conn)
        bench.verify()  # warm-up: the worker's start-up reconcile, first imports, Bolt's auth.test
        runs: dict[str, list[Run]] = {"verify": [], "roll": [], "revoke": []}
        for action in runs:
            for _ in range(args.runs):
                if action == "revoke":  # bring the token back for the next revoke
                    token = world.inventory.find(TOKENS["revoke"])
                    assert token is not None
                    world.add_token(token, 20)
                try:
                    runs[action].append(bench.verify() if action == "verify" else bench.approved(action))
                except SystemExit:
                    print("\n".join(worker.log[-20:]), file=sys.stderr)
                    raise
            print(
                f"  {action}: p50 {percentile([r.total for r in runs[action]], 0.5):.0f} ms",
                file=sys.stderr,
                flush=True,
            )
        return runs, round_trip_ms(world), len(world.slack.refusals())
    finally:
        for process in reversed(started):
            process.stop()
        world.stop()


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}"


def report(runs: dict[str, list[Run]], rtt: float, refused: int = 0) -> str:
    rows, phases, lines = [], [], []
    for action, done in runs.items():
        totals = [r.total for r in done]
        calls = statistics.median([len(r.calls) for r in done])
        rows.append(
            [
                action,
                len(done),
                f"{percentile(totals, 0.5):.1f}",
                f"{percentile(totals, 0.99):.1f}",
                f"{max(totals):.1f}",
                f"{calls:.0f}",
                f"{calls * rtt:.1f}",
            ]
        )
        phases.append(
            [
                action,
                _median([r.ack for r in done]),
                _median([r.enqueued for r in done]),
                _median([r.started - r.enqueued for r in done]),
                _median([r.first_call - r.started for r in done]),
                _median([r.total - r.first_call for r in done]),
                _median(totals),
            ]
        )
    lines += [
        f"Approval → result (ms; zero-latency stand-ins; floor = external calls × loopback round trip {rtt:.2f} ms)",
        "",
        table(["operation", "runs", "p50", "p99", "max", "external calls", "floor"], rows),
        "",
        "Where the time goes (medians, ms from the click; verify: from the command)",
        "",
        table(
            ["operation", "ack", "enqueued", "→ job started", "→ first call", "calls → result post", "total"], phases
        ),
        "",
    ]
    for action, done in runs.items():
        median_run = sorted(done, key=lambda r: r.total)[len(done) // 2]
        job_started = _sent(median_run) + median_run.started / 1000
        steps = ", ".join(
            f"{hit.service} {hit.method} {_short(hit.path)} +{(hit.at - job_started) * 1000:.1f}"
            for hit in median_run.calls
        )
        lines.append(f"{action} (median run, ms after the job started): {steps}")
    lines.append("")
    for action in ("verify", "roll"):
        p50 = percentile([r.total for r in runs[action]], 0.5)
        lines.append(f"target {action} p50 < {TARGET_MS:.0f} ms: {p50:.1f} ms {verdict(p50 < TARGET_MS)}")
    lines.append(f"messages the Slack stand-in refused (Block Kit validated as Slack does): {refused} "
                 f"{verdict(refused == 0)}")
    return "\n".join(lines)


def _sent(run: Run) -> float:
    """The click's time (epoch s), recovered from the first call's offset."""
    return run.calls[0].at - run.first_call / 1000 if run.calls else 0.0


def _short(path: str) -> str:
    parts = path.split("/")
    return "/".join(p if len(p) < 20 else p[:6] + "…" for p in parts)


def main(argv: list[str] | None = None, *, conn: redis.Redis, redis_url: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    return report(*measure(args, conn, redis_url))


_ = Request  # the type Timeline's matchers receive
