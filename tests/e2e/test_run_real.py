"""With Slack credentials set, the README's run command runs the real bot (the Procfile's processes), not the sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from urllib.request import Request, urlopen

import pytest

from sandbox.processes import free_port
from standins.base import WAIT_CEILING
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL, SIGNING_SECRET
from tests.e2e.sandbox_process import REPO, alive, descendants, kill_tree, listening_ports

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def wait_until_healthy(url: str, process: subprocess.Popen, output: list[str]) -> None:
    deadline = time.monotonic() + WAIT_CEILING
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run command exited:\n" + "\n".join(output)
        try:
            with urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:  # refused, reset or timed out while gunicorn boots
            pass
        time.sleep(0.1)
    raise AssertionError("web never answered /healthz:\n" + "\n".join(output))


def test_with_slack_credentials_the_run_command_runs_the_procfile_processes_of_the_real_bot(world, redis_conn, redis_url):
    port = free_port()
    env = {**os.environ, **world.settings_env(redis_url=redis_url), "PORT": str(port)}
    env.pop("SLACK_APP_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.run"], cwd=REPO, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(line.rstrip() for line in process.stdout), daemon=True)
    reader.start()
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process, output)
        body, headers = slash_command(
            signing_secret=SIGNING_SECRET, text="verify CF_WAF_EDIT_RAXX_APP", user_id=APPROVERS[0],
            channel_id=CHANNEL, response_url=world.slack.new_response_url(APPROVERS[0], CHANNEL),
        )
        with urlopen(Request(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=headers)) as ack:
            assert ack.status == 200

        report = world.slack.wait_for(lambda m: m.text.startswith("verify CF_WAF_EDIT_RAXX_APP"))
        tree = descendants(process.pid) | {process.pid}
        ports = listening_ports(tree)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=5)

        assert code == 0
        assert "healthy" in report.text
        assert port in ports
        assert not any("cftoken sandbox" in line for line in output), "the sandbox ran instead of the real bot"
        assert any(line.lstrip().startswith("worker |") for line in output), "the processes' output is not shown"
        assert not alive(tree), f"left running: {alive(tree)}"
        assert not ports & listening_ports()
    finally:
        if process.poll() is None:
            kill_tree(process)
        reader.join(timeout=5)
        process.stdout.close()
