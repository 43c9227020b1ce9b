"""Run the README's command (`python -m sandbox.run`, no Slack credentials) as a subprocess and look at what it leaves.

Processes and listening sockets are read from /proc, so the checks need no tools beyond Linux itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

REPO = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"^cftoken sandbox: open (http://127\.0\.0\.1:\d+)/ \(Redis: (.+); Ctrl-C stops everything\)$")


@dataclass
class Sandbox:
    process: subprocess.Popen
    url: str = ""
    redis: str = ""  # what the run line says about the Redis it uses
    output: list[str] = field(default_factory=list)
    started_in: float = 0.0
    reader: threading.Thread | None = None

    def state(self, viewer: str = "") -> dict:
        return json.loads(self.state_text(viewer))

    def state_text(self, viewer: str = "") -> str:
        with urlopen(f"{self.url}/sandbox/state?viewer={viewer}", timeout=5) as response:
            return response.read().decode()

    def page_token(self) -> str:
        """This run's page token, read from the page as the browser gets it."""
        with urlopen(self.url + "/", timeout=5) as response:
            return re.search(r'name="sandbox-token" content="([^"]+)"', response.read().decode()).group(1)

    def tree(self) -> set[int]:
        """The sandbox's pid and every descendant's, now."""
        return descendants(self.process.pid) | {self.process.pid}

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30.0) -> int:
        """Send `signum` and wait for the exit code."""
        self.process.send_signal(signum)
        code = self.process.wait(timeout=timeout)
        self.close()
        return code

    def close(self) -> None:
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        """Last-resort cleanup for a failed test: SIGKILL the sandbox and every process group it started."""
        kill_tree(self.process)
        self.close()


def start_sandbox(*args: str, timeout: float = 60.0, **extra_env: str) -> Sandbox:
    """Start `python -m sandbox.run [args]` without SLACK_BOT_TOKEN (REDIS_URL left as the test runs with) and wait
    for its one line with the URL; `extra_env` adds variables (e.g. CFTOKEN_INVENTORY)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLACK_")} | extra_env
    began = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.run", *args], cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    sandbox = Sandbox(process)
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sandbox.output.append(line.rstrip("\n"))
            match = URL_LINE.match(line.rstrip("\n"))
            if match and not found.is_set():
                sandbox.url, sandbox.redis = match.group(1), match.group(2)
                sandbox.started_in = time.monotonic() - began
                found.set()

    sandbox.reader = threading.Thread(target=read, daemon=True)
    sandbox.reader.start()
    deadline = time.monotonic() + timeout
    while not found.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                sandbox.kill()
            raise AssertionError("the sandbox did not print its URL; output:\n" + "\n".join(sandbox.output))
    return sandbox


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL `process` and the process groups of all its descendants (each Procfile process has its own group:
    killing only the run command's group would leave them running, still taking jobs from the shared queue)."""
    groups = set()
    for pid in descendants(process.pid) | {process.pid}:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


def descendants(pid: int) -> set[int]:
    """Every live process whose parent chain leads to `pid`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat[1]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` that still run (a zombie, already dead but not yet reaped by init, does not count)."""
    running = set()
    for pid in pids:
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z":
            running.add(pid)
    return running


def listening_ports(pids: set[int] | None = None) -> set[int]:
    """TCP ports in LISTEN state, owned by one of `pids` (all, when None)."""
    inodes: dict[str, int] = {}
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    if pids is None:
        return set(inodes.values())
    owned = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    owned.add(inodes[target[8:-1]])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return owned


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])
