"""Run 2: from the final Approve click (verify: the command) to the result message in the Slack stand-in.

    python -m bench approval                  # 5 runs of each operation at 0 and again at 50 ms latency
    python -m bench approval --latency 150 --runs 10

The operations: verify, roll, overlap (a roll by twin, to the new value verified), revoke and provision (each run
a token of its own, declared in a bench inventory beside the shipped one). `web` and one `worker` run from the
Procfile's lines against the seeded world; runs are sequential, each waits for its result message. Every stand-in
answers after the given latency. Where the time goes comes from outside the code: the stand-ins' request times,
RQ's job record (enqueued_at, started_at) and the HTTP answer to the click. Sequential round trips are counted from
the stand-ins' request times (bench/round_trips.py); the floor is the fewest the operation needs × the latency.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from rq.job import Job
from rq.registry import FinishedJobRegistry

from bench.processes import Hit, Process, Timeline, start_web, start_worker
from bench.round_trips import FLOORS, sequential
from bench.tables import percentile, table, verdict
from domain import requests
from domain.inventory import Inventory, Token, load_inventory
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.base import Request
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL, SIGNING_SECRET, World

ALICE, BOB = APPROVERS
TOKENS = {"verify": "CF_WAF_EDIT_RAXX_APP", "roll": "CF_DNS_EDIT_GETRAXX_COM", "revoke": "CF_PAGES_DEPLOY"}
RESULT_TEXT = {"roll": "Rolled {}", "revoke": "Revoked {}", "overlap": "{}: the new token",
               "provision": "Provisioned {}"}
ACTIONS = ("verify", "roll", "overlap", "revoke", "provision")
COMMAND = {"overlap": "roll"}  # an overlap token's roll is an overlap
DECLARED = """
[[tokens]]
name = "{name}"
scope = "Zone:DNS:Edit, Zone:Zone:Read"
zones = ["raxx.io"]
permissions = ["DNS Write", "Zone Read"]
cadence_days = 90
unblocks = "the approval benchmark"
consumers = [{{ who = "nobody", how = "benchmark" }}]
"""
TARGET_MS = 300.0
WAIT = 30.0


@dataclass
class Run:
    total: float  # ms, click (or command) sent → result message at the Slack stand-in
    latency: int  # ms every stand-in waited before answering
    ack: float
    enqueued: float  # click → RQ enqueued_at
    started: float  # click → RQ started_at (the job running in the worker)
    first_call: float  # click → the worker's first external request
    calls: list[Hit] = field(default_factory=list)  # the worker's external requests, result post last
    action: str = ""


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

    def approved(self, action: str, name: str) -> Run:
        opened = self.timeline.expect(lambda hit, _: hit.path == "/api/chat.postMessage")
        self.post(self.command(f"{COMMAND.get(action, action)} {name} benchmark"))
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
            latency=round(self.world.cloudflare.faults.latency * 1000),
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


def bench_inventory(runs: int) -> tuple[Path, list[str], list[str]]:
    """The shipped inventory plus `runs` overlap tokens (seeded) and `runs` tokens to provision (not yet made)."""
    overlaps = [f"CF_BENCH_OVERLAP_{n}" for n in range(runs)]
    provisions = [f"CF_BENCH_PROVISION_{n}" for n in range(runs)]
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    for name in overlaps:
        text += DECLARED.format(name=name).replace("cadence_days = 90\n",
                                                   'cadence_days = 90\nrotation = "overlap"\noverlap_minutes = 60\n')
    text += "".join(DECLARED.format(name=name) for name in provisions)
    path = Path(tempfile.mkdtemp(prefix="cftoken-bench-")) / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path, overlaps, provisions


def measure(args: argparse.Namespace, conn: redis.Redis, redis_url: str) -> tuple[list[Run], dict[str, float], int]:
    latencies = [args.latency] if args.latency is not None else [0, 50]
    path, overlaps, provisions = bench_inventory(args.runs * len(latencies))
    inventory = load_inventory(path)
    world = World.start()
    for name in overlaps:
        world.add_token(_declared(inventory, name), 90)
    started: list[Process] = []
    runs: list[Run] = []
    rtts: dict[str, float] = {}
    try:
        env = world.settings_env(redis_url=redis_url, cftoken_inventory=str(path))
        web = start_web(env)
        started.append(web)
        worker = start_worker(env)
        started.append(worker)
        bench = Bench(world, web, conn)
        bench.verify()  # warm-up: the worker's start-up reconcile, first imports, Bolt's auth.test
        for latency in latencies:
            _set_latency(world, latency / 1000)
            rtts[str(latency)] = round_trip_ms(world)
            for action in ACTIONS:
                done = [bench_one(bench, world, worker, action, overlaps, provisions) for _ in range(args.runs)]
                runs += done
                print(f"  {action} at {latency} ms: p50 {percentile([r.total for r in done], 0.5):.0f} ms",
                      file=sys.stderr, flush=True)
        _set_latency(world, 0.0)
        return runs, rtts, len(world.slack.refusals())
    finally:
        for process in reversed(started):
            process.stop()
        world.stop()
        shutil.rmtree(path.parent, ignore_errors=True)


def bench_one(bench: Bench, world: World, worker: Process, action: str, overlaps: list[str],
              provisions: list[str]) -> Run:
    """One run of `action` (the next unused token for an overlap or a provision)."""
    if action == "revoke":  # bring the token back for the next revoke
        token = world.inventory.find(TOKENS["revoke"])
        assert token is not None
        world.add_token(token, 20)
    try:
        if action == "verify":
            run = bench.verify()
        else:
            name = overlaps.pop(0) if action == "overlap" else provisions.pop(0) if action == "provision" \
                else TOKENS[action]
            run = bench.approved(action, name)
    except SystemExit:
        print("\n".join(worker.log[-20:]), file=sys.stderr)
        print("\n".join(world.slack.as_text(m) for m in world.slack.messages(CHANNEL)[-3:]), file=sys.stderr)
        raise
    run.action = action
    return run


def _declared(inventory: Inventory, name: str) -> Token:
    token = inventory.find(name)
    assert token is not None
    return token


def _set_latency(world: World, seconds: float) -> None:
    for standin in (world.slack, world.cloudflare, world.infisical, world.freescout):
        standin.faults.latency = seconds


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}"


def report(runs: list[Run], rtts: dict[str, float], refused: int = 0) -> str:
    lines = []
    for latency in sorted({r.latency for r in runs}):
        lines += latency_report([r for r in runs if r.latency == latency], latency, rtts.get(str(latency), 0.0))
    zero = [r for r in runs if r.latency == 0]
    for action in ("verify", "roll"):
        totals = [r.total for r in zero if r.action == action]
        if totals:
            p50 = percentile(totals, 0.5)
            lines.append(f"target {action} p50 < {TARGET_MS:.0f} ms at zero latency: {p50:.1f} ms "
                         f"{verdict(p50 < TARGET_MS)}")
    lines.append(f"messages the Slack stand-in refused (Block Kit validated as Slack does): {refused} "
                 f"{verdict(refused == 0)}")
    return "\n".join(lines)


def latency_report(runs: list[Run], latency: int, rtt: float) -> list[str]:
    rows, phases, lines = [], [], []
    by_action = {action: [r for r in runs if r.action == action] for action in ACTIONS}
    for action, done in by_action.items():
        if not done:
            continue
        totals = [r.total for r in done]
        p50 = percentile(totals, 0.5)
        floor_trips = FLOORS[action][0]
        floor = floor_trips * latency
        rows.append([action, len(done), f"{p50:.1f}", f"{percentile(totals, 0.99):.1f}",
                     f"{statistics.median([len(r.calls) for r in done]):.0f}",
                     f"{statistics.median([sequential(r.calls) for r in done]):.0f}",
                     f"{floor_trips} × {latency} = {floor}",
                     verdict(p50 <= 1.5 * floor) if latency else "—"])
        phases.append([action, _median([r.ack for r in done]), _median([r.enqueued for r in done]),
                       _median([r.started - r.enqueued for r in done]),
                       _median([r.first_call - r.started for r in done]),
                       _median([r.total - r.first_call for r in done]), _median(totals)])
    lines += [
        f"Approval → result at {latency} ms latency on every stand-in answer (ms; loopback round trip "
        f"{rtt:.2f} ms; verify from the command; met: p50 ≤ 1.5 × floor)",
        "",
        table(["operation", "runs", "p50", "p99", "external calls", "round trips", "floor (trips × ms)", "p50 ≤ 1.5×"],
              rows),
        "",
        f"Where the time goes at {latency} ms (medians, ms from the click; verify: from the command)",
        "",
        table(["operation", "ack", "enqueued", "→ job started", "→ first call", "calls → result post", "total"],
              phases),
        "",
    ]
    for action, done in by_action.items():
        if not done:
            continue
        median_run = sorted(done, key=lambda r: r.total)[len(done) // 2]
        job_started = _sent(median_run) + median_run.started / 1000
        steps = ", ".join(
            f"{hit.service} {hit.method} {_short(hit.path)} +{(hit.at - job_started) * 1000:.0f}"
            for hit in median_run.calls
        )
        lines.append(f"{action} at {latency} ms (median run, ms after the job started): {steps}")
    lines.append("")
    return lines


def _sent(run: Run) -> float:
    """The click's time (epoch s), recovered from the first call's offset."""
    return run.calls[0].at - run.first_call / 1000 if run.calls else 0.0


def _short(path: str) -> str:
    parts = path.split("/")
    return "/".join(p if len(p) < 20 else p[:6] + "…" for p in parts)


def main(argv: list[str] | None = None, *, conn: redis.Redis, redis_url: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each operation at each latency")
    parser.add_argument("--latency", type=int, default=None, metavar="MS",
                        help="every stand-in answers after MS ms (default: 0, then 50)")
    args = parser.parse_args(argv)
    return report(*measure(args, conn, redis_url))


_ = Request  # the type Timeline's matchers receive
