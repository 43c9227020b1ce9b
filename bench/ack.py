"""Run 1 and 4: acknowledgement time under load, beside a bare Bolt app in the same run; peak RSS meanwhile.

    python -m bench.ack                       # 500 requests per scenario at concurrency 1, 10 and 50
    python -m bench.ack --requests 200 --concurrency 50

Signed `/cftoken verify`, `/cftoken roll` and Approve clicks go to `web` started from the Procfile's own line
(`bot.serve`, its threads and limits), with the Procfile's `worker` running and draining the queue.
The baseline is `bench.bare` (a Bolt app whose listeners only ack) under the very same server command, asked
the same pre-signed requests right before. The load client is a separate process (`bench.load`).

The worker runs at nice 10: on Heroku web and worker are separate dynos, so the worker's CPU should not be
charged to web's ack time on this shared 2-core machine. Queued jobs are dropped after each scenario.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from pydantic import SecretStr

from bench.processes import Process, RssSampler, cpu_seconds, start_web, start_worker
from bench.tables import percentile, table, verdict
from domain import integrity, requests
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL, SECRET_KEY, SIGNING_SECRET, World

ALICE, BOB = APPROVERS
LEVELS = (1, 10, 50)
SLOW_MS = 3000.0
TARGET_RATIO, TARGET_MS = 1.25, 100.0
OUTBOX_WAIT = 180.0  # seconds for the worker to post 500 approval messages and their first replies


@dataclass
class Result:
    scenario: str
    concurrency: int
    app: list[float]
    bare: list[float]
    errors: list[str]
    app_cpu: float  # ms of web CPU per request (the whole web process tree)
    bare_cpu: float

    def row(self) -> list[object]:
        p99, bare_p99 = percentile(self.app, 0.99), percentile(self.bare, 0.99)
        slow = sum(1 for ms in self.app + self.bare if ms > SLOW_MS) + len(self.errors)
        return [
            self.scenario,
            self.concurrency,
            len(self.app),
            f"{percentile(self.app, 0.5):.1f}",
            f"{p99:.1f}",
            f"{max(self.app):.1f}",
            f"{percentile(self.bare, 0.5):.1f}",
            f"{bare_p99:.1f}",
            f"{max(self.bare):.1f}",
            f"{percentile(self.app, 0.5) / percentile(self.bare, 0.5):.2f}",
            f"{p99 / bare_p99:.2f}",
            slow,
            f"{self.app_cpu:.2f}",
            f"{self.bare_cpu:.2f}",
        ]


def bulk_inventory(path: Path, count: int) -> list[str]:
    """The shipped inventory plus `count` zone-read tokens, so that every roll command opens a new request."""
    names = [f"CF_BULK_{i:04d}" for i in range(count)]
    blocks = "".join(
        f'\n[[tokens]]\nname = "{name}"\nscope = "Zone:Zone:Read"\nzones = ["raxx.app"]\n'
        f'permissions = ["Zone Read"]\ncadence_days = 90\n'
        for name in names
    )
    path.write_text(Path(DEFAULT_INVENTORY).read_text() + blocks)
    return names


def raw(url: str, body: str, headers: dict[str, str]) -> bytes:
    host = url.removeprefix("http://")
    lines = [
        "POST /slack/events HTTP/1.1",
        f"Host: {host}",
        *(f"{k}: {v}" for k, v in headers.items()),
        f"Content-Length: {len(body.encode())}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body.encode()


def load(url: str, requests: list[bytes], concurrency: int, workdir: Path) -> dict[str, list]:
    """Run the load client in its own process and return its measurements."""
    path = workdir / "requests.pickle"
    path.write_bytes(pickle.dumps(requests))
    host, port = url.removeprefix("http://").split(":")
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", str(path), str(concurrency), host, port],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)


def commands(world: World, texts: list[str]) -> list[tuple[str, dict[str, str]]]:
    return [
        slash_command(
            signing_secret=SIGNING_SECRET,
            text=text,
            user_id=ALICE,
            channel_id=CHANNEL,
            response_url=world.slack.new_response_url(ALICE, CHANNEL),
        )
        for text in texts
    ]


def approve_clicks(world: World, conn: redis.Redis, tokens: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Bob's Approve click on each pending roll request for `tokens` (opened by the roll scenario), once the
    worker's outbox has posted every approval message (they are posted after the ack, off web)."""
    deadline = time.monotonic() + OUTBOX_WAIT
    while True:
        pending = {r.token: r for r in requests.open_requests(conn, now=world.clock.now()) if r.state == "pending"}
        if all(pending.get(t) and pending[t].message_ts for t in tokens) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    clicks = []
    for token in tokens:
        request = pending.get(token)
        if request is None or request.message_ts is None:
            raise SystemExit(f"no pending roll request with a message for {token}: the roll scenario failed")
        clicks.append(world.signed_click("approve", request.id, user=BOB, message_ts=request.message_ts))
    return clicks


def measure(args: argparse.Namespace, conn: redis.Redis, redis_url: str) -> tuple[list[Result], dict[str, int]]:
    world = World.start()
    integrity.use_key(SecretStr(SECRET_KEY))  # this process reads the request records the web signed
    workdir = Path(tempfile.mkdtemp(prefix="cftoken-bench-"))
    names = bulk_inventory(workdir / "inventory.toml", args.requests * len(args.concurrency))
    env = world.settings_env(redis_url=redis_url, cftoken_inventory=str(workdir / "inventory.toml"))
    started: list[Process] = []
    try:
        web = start_web(env)
        started.append(web)
        bare = start_web(env, app="bench.bare:application")
        started.append(bare)
        worker = start_worker(env, nice=10)
        started.append(worker)
        samplers = {name: RssSampler(p.pid).start() for name, p in (("web", web), ("bare", bare), ("worker", worker))}
        warm = [raw(u, *c) for u in (web.url,) for c in commands(world, ["verify CF_WAF_EDIT_RAXX_APP"] * 40)]
        load(web.url, warm, 10, workdir)
        load(bare.url, [raw(bare.url, *c) for c in commands(world, ["help"] * 40)], 10, workdir)
        job_queue(conn).empty()

        results, offset = [], 0
        for concurrency in args.concurrency:
            tokens = names[offset : offset + args.requests]
            offset += args.requests
            scenarios = {
                "verify": lambda: commands(world, ["verify CF_WAF_EDIT_RAXX_APP"] * args.requests),
                "roll": lambda tokens=tokens: commands(world, [f"roll {name} bench" for name in tokens]),
                "approve": lambda tokens=tokens: approve_clicks(world, conn, tokens),
            }
            for scenario, build in scenarios.items():
                signed = build()
                cpu = cpu_seconds(bare.pid)
                bare_run = load(bare.url, [raw(bare.url, *s) for s in signed], concurrency, workdir)
                bare_cpu = (cpu_seconds(bare.pid) - cpu) * 1000 / len(signed)
                cpu = cpu_seconds(web.pid)
                app_run = load(web.url, [raw(web.url, *s) for s in signed], concurrency, workdir)
                time.sleep(0.5)  # the answers after the ack are part of what a request costs web
                app_cpu = (cpu_seconds(web.pid) - cpu) * 1000 / len(signed)
                job_queue(conn).empty()  # the worker finishes what it holds; the backlog is dropped
                results.append(
                    Result(
                        scenario,
                        concurrency,
                        app_run["ms"],
                        bare_run["ms"],
                        app_run["errors"] + bare_run["errors"],
                        app_cpu,
                        bare_cpu,
                    )
                )
                print(
                    f"  ack {scenario:7} c={concurrency:<3} app p99 {percentile(app_run['ms'], 0.99):6.1f} ms, "
                    f"bare p99 {percentile(bare_run['ms'], 0.99):6.1f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        for sampler in samplers.values():
            sampler.stop()
        memory = {
            "web master": samplers["web"].peak_root,
            "web worker (largest)": samplers["web"].peak_child,
            "web total": samplers["web"].peak_total,
            "bare web total": samplers["bare"].peak_total,
            "worker": samplers["worker"].peak_root,
            "worker child (work horse, if any)": samplers["worker"].peak_child,
        }
        return results, memory
    finally:
        for process in reversed(started):
            process.stop()
        world.stop()


def report(results: list[Result], memory: dict[str, int]) -> str:
    headers = [
        "scenario",
        "conc",
        "n",
        "p50",
        "p99",
        "max",
        "bare p50",
        "bare p99",
        "bare max",
        "p50 ×",
        "p99 ×",
        "> 3 s",
        "CPU ms/req",
        "bare CPU ms/req",
    ]
    lines = [
        "Acknowledgement (ms; × = ratio to the bare Bolt app, same run)",
        "",
        table(headers, [r.row() for r in results]),
        "",
    ]
    for r in (r for r in results if r.concurrency == max(r.concurrency for r in results)):
        p99, ratio = percentile(r.app, 0.99), percentile(r.app, 0.99) / percentile(r.bare, 0.99)
        lines.append(
            f"target {r.scenario} p99 at c={r.concurrency}: {p99:.1f} ms, {ratio:.2f}× bare "
            f"(≤ {TARGET_RATIO}× and < {TARGET_MS:.0f} ms): "
            f"{verdict(ratio <= TARGET_RATIO and p99 < TARGET_MS)}"
        )
    slow = sum(int(r.row()[11]) for r in results)
    lines += [
        f"requests over 3 s or failed: {slow} ({verdict(slow == 0)})",
        "",
        "Peak RSS during the run (MiB)",
        "",
        table(["process", "peak RSS"], [[name, f"{kib / 1024:.1f}"] for name, kib in memory.items()]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, conn: redis.Redis, redis_url: str) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(LEVELS))
    args = parser.parse_args(argv)
    return report(*measure(args, conn, redis_url))
