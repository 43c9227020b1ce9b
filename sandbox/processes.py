"""The Procfile's processes on this machine, for `make run` (sandbox/run.py) and the sandbox (sandbox/sandbox.py).

Each process runs through `/bin/sh -c` in its own process group, so one Ctrl-C (or SIGTERM) stops the group:
SIGTERM first, SIGKILL after a grace period. If one process dies, the others are stopped too.

Not honcho (2.0.0, measured): its Manager forks one Python helper per process from this one (3 more processes,
~14.6 MB RSS each, each holding a copy of every socket this process has open: the stand-ins' listening ports),
blocks the main thread in `loop()` with its own signal handlers (the health wait, the one URL line and a stop
during start-up would need a thread beside it), and SIGKILLs only after some process has exited. Its process
groups and SIGTERM-then-SIGKILL are what `Supervisor` does in ~60 lines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from types import FrameType

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"
PROCESSES = ("web", "worker", "clock")
STOP_GRACE_SECONDS = 5.0
TAIL_LINES = 30


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """Process type → command, as Heroku reads a Procfile (`name: command`, blank lines and # comments skipped)."""
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """`base` plus `extra`, with this interpreter's bin directory (the venv's) first on PATH."""
    env = {**base, **extra}
    env["PATH"] = os.pathsep.join([str(Path(sys.prefix) / "bin"), env.get("PATH", os.defpath)])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class Child:
    """One Procfile process in its own process group; its output is kept (the last lines) and optionally echoed."""

    def __init__(self, name: str, command: str, env: dict[str, str], *, echo: bool) -> None:
        self.name = name
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", command], env=env, cwd=PROCFILE.parent, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        self._reader = threading.Thread(target=self._read, args=(echo,), name=f"{name}-output", daemon=True)
        self._reader.start()

    def _read(self, echo: bool) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.tail.append(line.rstrip("\n"))
            if echo:
                print(f"{self.name:>6} | {line}", end="", flush=True)

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        self._reader.join(timeout=2)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Supervisor:
    """Starts processes, waits for a stop signal or for one of them to die, and stops them all."""

    def __init__(self, *, echo: bool = False) -> None:
        self.echo = echo
        self.children: list[Child] = []

    def start(self, name: str, command: str, env: dict[str, str]) -> Child:
        child = Child(name, command, env, echo=self.echo)
        self.children.append(child)
        return child

    def dead(self) -> Child | None:
        return next((child for child in self.children if child.process.poll() is not None), None)

    def wait(self, stop: threading.Event) -> Child | None:
        """Block until `stop` is set (None) or a process exits (that process)."""
        while not stop.wait(0.2):
            child = self.dead()
            if child is not None:
                return child
        return None

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every process group, SIGKILL what is left after `grace` seconds, then reap."""
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                pass
        for child in self.children:  # the whole group: gunicorn's workers too
            child.signal(signal.SIGKILL)
            child.process.wait()
            child.close()


def describe_death(child: Child) -> str:
    lines = "\n".join(f"  {line}" for line in child.tail) or "  (no output)"
    return f"{child.name} exited with code {child.process.returncode}; its last output:\n{lines}"


def stop_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (instead of KeyboardInterrupt or an abrupt exit)."""
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop
