"""Changes made to a token outside the bot, found in Cloudflare's audit log, through the Procfile's worker: the next
scan posts a roll made in the dashboard once, naming who, from where and what it means for the vault; the bot's own
roll is not reported; verify's failure mode B names the change; /metrics-style counters count them."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from domain import metrics
from domain.queueing import SCAN_JOB, enqueue_verify, job_queue
from standins.world import APPROVERS, CHANNEL
from tests.integration.audit_world import audit_world
from tests.integration.scenarios import leaks, redis_dump, token_values
from tests.integration.test_channel_text import answer
from tests.integration.test_processes import procfile_command, run_env
from tests.integration.test_web_process import web_process

pytestmark = pytest.mark.integration
DNS, WAF = "CF_DNS_EDIT_GETRAXX_COM", "CF_WAF_EDIT_RAXX_APP"


def run_worker(env: dict[str, str]) -> str:
    result = subprocess.run([*procfile_command("worker"), "--burst"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def roll_at_cloudflare(world, name: str, bearer: str) -> None:
    with httpx.Client(base_url=world.cloudflare.url + "/client/v4") as api:
        answer = api.put(f"/user/tokens/{world.token_ids[name]}/value", json={},
                         headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 200


def alerts(world) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if "Changed outside the bot" in m.text]


def test_a_dashboard_roll_is_reported_once_by_the_next_scan_and_named_by_verify(tmp_path, redis_conn, redis_url):
    with audit_world(tmp_path) as (world, inventory):
        env = {**run_env(world, redis_url), "CFTOKEN_INVENTORY": str(inventory)}
        roll_at_cloudflare(world, DNS, world.cloudflare.dashboard_session("alice@example.com", ip="203.0.113.7"))
        roll_at_cloudflare(world, WAF, world.vault_value("CF_ACCESS_MGMT"))  # as the bot rolls: not reported
        queue = job_queue(redis_conn)

        queue.enqueue_call(SCAN_JOB)
        log = run_worker(env)
        queue.enqueue_call(SCAN_JOB)
        log += run_worker(env)
        enqueue_verify(queue, name=DNS, requested_by=APPROVERS[0])
        log += run_worker(env)

        [alert] = alerts(world)
        assert alert.startswith(f":mag: *Changed outside the bot:* {DNS} was rolled at Cloudflare by "
                                "alice@example.com from `203.0.113.7`"), alert
        assert f"the vault's value stopped working then — `/cftoken roll {DNS}`" in alert
        assert WAF not in alert, log
        [report] = [m for m in world.slack.messages(CHANNEL) if m.text and "verify" in m.text.lower()
                    and DNS in world.slack.as_text(m) and "Changes at Cloudflare" in world.slack.as_text(m)]
        shown = world.slack.as_text(report)
        assert "vault is out of step: CF_DNS_EDIT_GETRAXX_COM was rolled at Cloudflare by alice@example.com" in shown
        with web_process(redis_url, world.slack.url, CFTOKEN_INVENTORY=str(inventory),
                         SLACK_SIGNING_SECRET=world.signing_secret) as (web, _):
            history = answer(web, world, f"history {DNS}")
        assert "*At Cloudflare* (the audit log as `/cftoken verify" in history, history
        assert "*Changes made to it* (last 30 days): \\n• " in history and "alice@example.com" in history
        assert metrics.audit_counts(redis_conn)[("outside_changes", "cloudflare")] == 1
        assert not leaks(redis_dump(redis_conn), token_values(world))
        assert not leaks(log, token_values(world)), "the worker's log holds no token value"
