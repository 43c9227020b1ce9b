"""The sandbox says how to point the operator CLI at it, and what it says works as typed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from standins.base import WAIT_CEILING
from tests.e2e.sandbox_process import start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
PREFIX = "cftoken sandbox: to point the cftoken CLI at it: "


def shell(line: str) -> subprocess.CompletedProcess[str]:
    """`line` in a POSIX shell as a person types it, with this venv's `cftoken` on PATH and no cftoken settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CFTOKEN_", "SLACK_", "REDIS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["/bin/sh", "-c", line], env=env, capture_output=True, text=True, timeout=120)


def test_the_sandbox_prints_a_line_that_points_cftoken_at_it_and_the_cli_works_there():
    sandbox = start_sandbox()
    try:
        deadline = time.monotonic() + WAIT_CEILING
        while not any(line.startswith(PREFIX) for line in sandbox.output):
            assert time.monotonic() < deadline, "no line saying how to point cftoken at the sandbox:\n" + \
                "\n".join(sandbox.output)
            time.sleep(0.1)
        typed = next(line for line in sandbox.output if line.startswith(PREFIX)).removeprefix(PREFIX)

        checked = shell(typed)
        diffed = shell(typed.replace("cftoken check", "cftoken inventory diff"))
        scanned = shell(typed.replace("cftoken check", "cftoken scan --wait"))

        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.splitlines()[-1].startswith("cftoken: settings and inventory are valid")
        assert diffed.returncode == 0, diffed.stderr
        assert "CF_WAF_EDIT_RAXX_APP: same as at Cloudflare" in diffed.stdout.splitlines()
        assert scanned.returncode == 0, scanned.stderr
        assert "scanned 5 token(s)" in scanned.stdout
        env_file = Path(typed.split()[1])
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        assert sandbox.stop(signal.SIGINT) == 0
    finally:
        if sandbox.process.poll() is None:
            sandbox.kill()
    assert not env_file.exists()  # its settings leave with the sandbox
