"""`cftoken scan --wait` exits non-zero when the scan could not check: the operator CLI and the Procfile's worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.queueing import job_queue
from tests.integration.provisioning_scenarios import declare, run_worker
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def scan_wait(redis_url: str) -> subprocess.Popen:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url}
    return subprocess.Popen([sys.executable, "-m", "workers.cli", "scan", "--wait"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def scanned(world, redis_conn, redis_url, inventory) -> tuple[int, str, str]:
    """Run `cftoken scan --wait` while the Procfile's worker (burst) takes the scan it queued."""
    cli = scan_wait(redis_url)
    wait_until(lambda: job_queue(redis_conn).count >= 1, what="the scan job to be queued")
    run_worker(world, redis_url, inventory)
    out, err = cli.communicate(timeout=120)
    return cli.returncode, out, err


def test_scan_wait_exits_non_zero_when_the_management_token_may_not_list_tokens(world, redis_conn, redis_url,
                                                                                 tmp_path):
    inventory = declare(tmp_path)
    assert scanned(world, redis_conn, redis_url, inventory)[0] == 0  # a healthy world: a checked scan exits 0

    management = world.token_ids["CF_ACCESS_MGMT"]
    policies = next(t["policies"] for t in world.cloudflare.tokens() if t["id"] == management)
    world.cloudflare.set_policies(management, [p for p in policies
                                               if all(g["name"] != "API Tokens Write" for g in p["permission_groups"])])
    code, out, err = scanned(world, redis_conn, redis_url, inventory)

    assert code == 1, (out, err)
    assert "Cloudflare could not be listed" in out and "code 9109" in out
    assert err.splitlines() == ["cftoken: the scan could not check the tokens at Cloudflare (see above): fix that, "
                                "then scan again"]
