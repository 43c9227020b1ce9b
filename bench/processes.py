"""The processes a benchmark runs, started from the Procfile's own command lines, and what it watches them by.

- `start_web` runs the Procfile's `web` line (bound to 127.0.0.1 on a free port; optionally another WSGI app
  under the very same flags, for the bare-Bolt baseline); `start_worker` runs the `worker` line.
- `RssSampler` records the peak resident memory of a process tree.
- `Timeline` timestamps every request a stand-in receives (the stand-ins keep method and path only), and lets a
  benchmark wait for a given request without polling.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from standins.base import Request, StandIn

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def procfile_command(kind: str) -> list[str]:
    """The Procfile's command for `kind`, split into arguments, with the venv's executable."""
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == kind:
            args = shlex.split(command)
            local = BIN / args[0]
            return [str(local) if local.exists() else args[0], *args[1:]]
    raise SystemExit(f"the Procfile has no {kind} process")


@dataclass
class Process:
    popen: subprocess.Popen
    url: str = ""
    log: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)  # drain its output; closed with it

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        """SIGTERM the process and whatever it started; SIGKILL whatever is left after 10 s."""
        tree = [self.pid, *descendants(self.pid)]
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.popen.wait(timeout=10)
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def start_web(env: dict[str, str], app: str = "bot.web:application") -> Process:
    """The Procfile's web command, on 127.0.0.1 and a free port, serving `app`; returns once it is healthy."""
    command = [arg.replace("0.0.0.0:$PORT", "127.0.0.1:0") for arg in procfile_command("web")]
    command = [app if arg == "bot.web:application" else arg for arg in command]
    popen = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    process = Process(popen)
    ready = threading.Event()

    def drain() -> None:
        for line in popen.stderr:  # type: ignore[union-attr]
            process.log = [*process.log[-50:], line.rstrip()]
            match = re.search(r"Listening at: (http://\S+)", line)
            if match and not process.url:
                process.url = match.group(1)
                ready.set()

    process.readers.append(threading.Thread(target=drain, daemon=True))
    process.readers[-1].start()
    if not ready.wait(30):
        process.stop()
        raise SystemExit("web did not start:\n" + "\n".join(process.log))
    wait_answers(process.url, "/healthz" if app.startswith("bot.") else "/")
    return process


def wait_answers(url: str, path: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(host, int(port), timeout=2)
        try:
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def start_worker(env: dict[str, str], *, nice: int = 0) -> Process:
    """The Procfile's worker command (output kept for diagnosis), optionally at a lower CPU priority."""
    return start_process("worker", env, nice=nice)


def start_clock(env: dict[str, str]) -> Process:
    """The Procfile's clock command (output kept for diagnosis)."""
    return start_process("clock", env)


def start_process(kind: str, env: dict[str, str], *, nice: int = 0) -> Process:
    """The Procfile's `kind` command, its output kept (the last 50 lines) for diagnosis."""
    popen = subprocess.Popen(
        procfile_command(kind),
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )  # noqa: PLW1509
    process = Process(popen)

    def drain() -> None:
        for line in popen.stdout:  # type: ignore[union-attr]
            process.log = [*process.log[-50:], line.rstrip()]

    process.readers.append(threading.Thread(target=drain, daemon=True))
    process.readers[-1].start()
    return process


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (gunicorn's workers, any process a child starts), found by walking parents."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        frontier += children
    return found


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(root: int) -> float:
    """User + system CPU time used so far by `root` and the processes below it that are still running."""
    ticks = 0
    for pid in [root, *descendants(root)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Peak RSS of the root process, of its largest child, and of the whole tree, sampled every 20 ms."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_root = self.peak_child = self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._children: list[int] = []
        self._children_at = 0.0

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        if now - self._children_at > 0.2:  # walking /proc is the expensive part: children change seldom
            self._children, self._children_at = descendants(self.root), now
        root = rss_kib(self.root)
        children = [rss_kib(pid) for pid in self._children]
        self.peak_root = max(self.peak_root, root)
        self.peak_child = max([self.peak_child, *children])
        self.peak_total = max(self.peak_total, root + sum(children))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Hit:
    at: float  # time.time() when the stand-in started handling the request (after any latency it adds)
    service: str
    method: str
    path: str
    arrived: float = 0.0  # when the request reached the stand-in (at - its latency)
    answered: float = 0.0  # when the stand-in had its answer (the request's end, near enough)


class Timeline:
    """Every request the given stand-ins receive, timestamped, and a way to wait for the next matching one."""

    def __init__(self, standins: dict[str, StandIn]) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[Callable[[Hit, Request], bool], queue.Queue]] = []
        for service, standin in standins.items():
            self._wrap(service, standin)

    def _wrap(self, service: str, standin: StandIn) -> None:
        dispatch = standin.dispatch

        def timed(request: Request):  # noqa: ANN202 - whatever the stand-in answers
            at = time.time()
            answer = dispatch(request)
            hit = Hit(at, service, request.method, request.path, at - standin.faults.latency, time.time())
            with self._lock:
                self.hits.append(hit)
            with self._lock:
                waiters = list(self._waiters)
            for matches, found in waiters:
                if matches(hit, request):
                    found.put(hit)
            return answer

        standin.dispatch = timed  # type: ignore[method-assign]  # bench-only instrumentation

    def expect(self, matches: Callable[[Hit, Request], bool]) -> queue.Queue:
        """A queue that receives each later request for which `matches(hit, request)` is true (after handling)."""
        found: queue.Queue = queue.Queue()
        with self._lock:
            self._waiters.append((matches, found))
        return found

    def forget(self, found: queue.Queue) -> None:
        with self._lock:
            self._waiters = [(m, q) for m, q in self._waiters if q is not found]

    def between(self, start: float, end: float) -> list[Hit]:
        with self._lock:
            return sorted((hit for hit in self.hits if start <= hit.at <= end), key=lambda hit: hit.at)

    def count(self, service: str, start: float = 0.0) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.service == service and hit.at >= start)
