"""Run 3: what one scan costs, value checks included, in worlds of 5, 100 and 1,000 tokens, at 0 and 20 ms latency.

    python -m bench scan

Each world runs on its own stand-ins with the Procfile's `worker`; a warm-up scan runs first (the worker's
start-up reconcile, its first vault login), then each measured scan is enqueued as the clock would enqueue it.
The warnings claimed by the previous scan are deleted first, so every scan posts the same digest (one token in
ten is 5 days from expiry). Requests are counted per stand-in between the job's start and end; the floor is one
vault request plus one Cloudflare request per page of the token list, plus the value checks due (one
GET /user/tokens/verify per token per CFTOKEN_VALUE_CHECK_HOURS, spread over the scans of that period).
The budget: the bot's Cloudflare requests in any five minutes stay at or under CFTOKEN_CLOUDFLARE_BUDGET (120, a
tenth of Cloudflare's 1,200 per user). The measured scans run back to back, inside one five-minute window, so
the later ones show the budget holding the value checks back; the steady-state table shows the default hourly
schedule.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from rq import Queue

from bench.approval import _epoch
from bench.processes import Process, Timeline, start_worker
from bench.tables import table, verdict
from domain.inventory import load_inventory
from domain.queueing import SCAN_JOB, job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.world import DEFAULT_EXPIRY_DAYS, World
from workers.clients.cloudflare import PER_PAGE
from workers.scan.health_watch import CLOUDFLARE_LIMIT, requests_in_window, value_check_quota

BUDGET = 120  # CFTOKEN_CLOUDFLARE_BUDGET's default
INTERVAL_MINUTES = 60  # CFTOKEN_SCAN_INTERVAL_MINUTES's default
CHECK_HOURS = 24  # CFTOKEN_VALUE_CHECK_HOURS's default
VERIFY = "/client/v4/user/tokens/verify"
BURST = 4  # scans back to back inside one five-minute window (someone running `cftoken scan` repeatedly)
BURSTS: list[tuple[int, list[int], int]] = []  # (tokens, Cloudflare requests of each scan, window total)

SIZES = (5, 100, 1000)
LATENCIES = (0.0, 0.020)
TARGET_SECONDS = 2.0
WAIT = 60.0


@dataclass
class Scan:
    tokens: int
    latency_ms: int
    seconds: float  # enqueued → ended (RQ's record)
    run_seconds: float  # started → ended
    requests: dict[str, int]
    value_checks: int  # GET /user/tokens/verify calls in this scan
    window: int  # the bot's Cloudflare requests counted in the current five-minute window after this scan

    @property
    def pages(self) -> int:
        return math.ceil(self.tokens / PER_PAGE)

    @property
    def floor(self) -> int:
        return 1 + self.pages + self.value_checks

    @property
    def at_floor(self) -> bool:
        return self.requests["infisical"] + self.requests["cloudflare"] == self.floor

    @property
    def in_budget(self) -> bool:
        return self.window <= BUDGET


def inventory_file(path: Path, size: int) -> Path:
    """The shipped inventory (5 tokens) plus generated zone-read tokens up to `size`."""
    blocks = "".join(
        f'\n[[tokens]]\nname = "CF_BULK_{i:04d}"\nscope = "Zone:Zone:Read"\nzones = ["raxx.app"]\n'
        f'permissions = ["Zone Read"]\ncadence_days = 90\n'
        for i in range(size - 5)
    )
    path.write_text(Path(DEFAULT_INVENTORY).read_text() + blocks)
    return path


def run_scan(queue: Queue, conn: redis.Redis, timeline: Timeline, *, fresh_window: bool = True
             ) -> tuple[float, float, dict[str, int], int]:
    patterns = ["cftoken:warned:*", "cftoken:alerted:*", "cftoken:reminded:*"]
    if fresh_window:  # each measured scan starts as the hourly one does: nothing spent in these 5 minutes
        patterns += ["cftoken:cf-requests:*", "cftoken:value-checked"]
    for pattern in patterns:
        keys = list(conn.scan_iter(pattern, count=1000))
        if keys:
            conn.delete(*keys)
    job = queue.enqueue(SCAN_JOB)
    deadline = time.monotonic() + WAIT
    while job.get_status(refresh=True) not in ("finished", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit("the scan did not finish")
        time.sleep(0.01)
    if job.get_status() == "failed":
        raise SystemExit(f"the scan failed: {job.latest_result().exc_string if job.latest_result() else '?'}")
    job.refresh()
    enqueued, started, ended = _epoch(job.enqueued_at), _epoch(job.started_at), _epoch(job.ended_at)
    hits = timeline.between(started, ended)
    counts = {
        service: sum(1 for hit in hits if hit.service == service)
        for service in ("infisical", "cloudflare", "slack", "freescout")
    }
    checks = sum(1 for hit in hits if hit.service == "cloudflare" and hit.path == VERIFY)
    return ended - enqueued, ended - started, counts, checks


def measure_world(size: int, conn: redis.Redis, redis_url: str, workdir: Path) -> list[Scan]:
    path = inventory_file(workdir / f"inventory-{size}.toml", size)
    inventory = load_inventory(path)
    days = {**DEFAULT_EXPIRY_DAYS, **{t.name: (5 if i % 10 == 0 else 90) for i, t in enumerate(inventory.tokens[5:])}}
    world = World.start(inventory=inventory, expiry_days=days)
    standins = {
        "infisical": world.infisical,
        "cloudflare": world.cloudflare,
        "slack": world.slack,
        "freescout": world.freescout,
    }
    timeline = Timeline(standins)
    worker: Process | None = None
    try:
        worker = start_worker(world.settings_env(redis_url=redis_url, cftoken_inventory=str(path)))
        queue = job_queue(conn)
        run_scan(queue, conn, timeline)  # warm-up
        scans = []
        for latency in LATENCIES:
            for standin in standins.values():
                standin.faults.latency = latency
            seconds, run_seconds, counts, checks = run_scan(queue, conn, timeline)
            window = requests_in_window(conn, world.clock.now())
            scans.append(Scan(size, round(latency * 1000), seconds, run_seconds, counts, checks, window))
            print(
                f"  scan {size} tokens, {latency * 1000:.0f} ms: {seconds * 1000:.0f} ms", file=sys.stderr, flush=True
            )
        if size == max(SIZES):
            for standin in standins.values():
                standin.faults.latency = 0.0
            burst = [run_scan(queue, conn, timeline, fresh_window=n == 0) for n in range(BURST)]  # one window
            total = requests_in_window(conn, world.clock.now())
            BURSTS.append((size, [counts["cloudflare"] for _, _, counts, _ in burst], total))
        return scans
    finally:
        if worker is not None:
            worker.stop()
        world.stop()
        conn.flushdb()


def report(scans: list[Scan]) -> str:
    rows = [
        [
            s.tokens,
            s.latency_ms,
            s.requests["infisical"],
            s.requests["cloudflare"],
            s.value_checks,
            s.floor,
            s.window,
            s.requests["slack"],
            f"{s.run_seconds * 1000:.0f}",
            f"{s.seconds * 1000:.0f}",
            "yes" if s.at_floor else "NO",
        ]
        for s in scans
    ]
    lines = [
        "Scan (requests during one scan, each starting with nothing spent in its 5-minute window, as the hourly "
        f"scan does; floor = 1 vault + 1 Cloudflare request per page of {PER_PAGE} + the value checks due; "
        "window = the bot's Cloudflare requests counted in the window after it; ms: job run, and enqueue → done)",
        "",
        table(
            ["tokens", "latency ms", "vault", "cloudflare", "value checks", "floor", "window", "slack", "run ms",
             "total ms", "at floor"], rows
        ),
        "",
    ]
    at_floor = all(s.at_floor for s in scans)
    lines.append(f"target: every scan at the request floor: {verdict(at_floor)}")
    in_budget = all(s.in_budget for s in scans) and all(total <= BUDGET for _, _, total in BURSTS)
    for tokens, each, total in BURSTS:
        lines.append(f"{BURST} scans of {tokens} tokens back to back in one 5-minute window: Cloudflare requests "
                     f"{', '.join(map(str, each))} (the budget holds value checks back, then the list itself); "
                     f"window total {total}")
    lines.append(f"target: the bot's Cloudflare requests in any 5 minutes ≤ {BUDGET} (1/10 of Cloudflare's "
                 f"{CLOUDFLARE_LIMIT}), even with scans back to back: {verdict(in_budget)}")
    lines += ["", steady_state()]
    biggest = [s for s in scans if s.tokens == max(SIZES) and s.latency_ms == 20]
    for s in biggest:
        lines.append(
            f"target: {s.tokens}-token scan at 20 ms latency < {TARGET_SECONDS:.0f} s: "
            f"{s.seconds:.2f} s {verdict(s.seconds < TARGET_SECONDS)}"
        )
    return "\n".join(lines)


def steady_state() -> str:
    """The default schedule's cost: value checks per hourly scan, requests per scan, days to check every value."""
    rows = []
    ok = True
    for size in SIZES:
        quota = value_check_quota(size, INTERVAL_MINUTES, CHECK_HOURS)
        per_scan = math.ceil(size / PER_PAGE) + quota
        hours = math.ceil(size / quota) * INTERVAL_MINUTES / 60 if quota else 0
        ok = ok and per_scan <= BUDGET and hours <= CHECK_HOURS
        rows.append([size, quota, per_scan, f"{per_scan / BUDGET:.0%}", f"{hours:.0f} h"])
    return "\n".join([
        f"Steady state at the defaults (a scan every {INTERVAL_MINUTES} min, each value verified every "
        f"{CHECK_HOURS} h; requests per scan = list pages + value checks, all inside one 5-minute window)",
        "",
        table(["tokens", "value checks / scan", "Cloudflare requests / scan", "of the budget", "every value in"],
              rows),
        "",
        f"target: each scan ≤ {BUDGET} Cloudflare requests and every value verified within {CHECK_HOURS} h: "
        f"{verdict(ok)}",
    ])


def main(argv: list[str] | None = None, *, conn: redis.Redis, redis_url: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cftoken-bench-scan-"))
    scans = [scan for size in args.sizes for scan in measure_world(size, conn, redis_url, workdir)]
    return report(scans)
