"""A bad setting or an unreachable service at start: the Procfile's processes and the CLI say so in one line,
never with a traceback (issue 23, finding 11)."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.test_inventory_import import cftoken
from tests.integration.test_processes import procfile_line, run_env

pytestmark = pytest.mark.integration


def one_line(result: subprocess.CompletedProcess) -> str:
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    return output


@pytest.mark.parametrize("url", ["redis://localhost:notaport/0", "localhost:6379"])
def test_the_worker_with_a_malformed_redis_url_stops_with_one_line_naming_it(world, redis_url, url):
    env = {**run_env(world, redis_url), "REDIS_URL": url}

    result = subprocess.run(["/bin/sh", "-c", procfile_line("worker")], env=env, capture_output=True, text=True,
                            timeout=60)

    assert one_line(result).startswith("cftoken worker: REDIS_URL is malformed")


def test_the_clock_with_redis_refusing_connections_stops_with_one_line_naming_it(world, redis_url):
    env = {**run_env(world, redis_url), "REDIS_URL": "redis://127.0.0.1:1/0"}

    result = subprocess.run(["/bin/sh", "-c", procfile_line("clock")], env=env, capture_output=True, text=True,
                            timeout=60)

    assert one_line(result) == ("cftoken clock: Redis at 127.0.0.1:1/0 is not answering: check REDIS_URL and that "
                                "the server runs")


def test_inventory_import_with_a_wrong_infisical_secret_says_the_vault_refused_it_in_one_line(world, redis_url):
    result = cftoken(world, redis_url, "inventory", "import", infisical_client_secret="not-the-secret")

    line = one_line(result)
    assert result.returncode == 1 and result.stdout == ""
    assert line.startswith("cftoken: infisical rejected the machine identity's credentials")
    assert "INFISICAL_CLIENT_ID" in line and "INFISICAL_CLIENT_SECRET" in line
