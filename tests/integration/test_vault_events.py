"""Infisical's secrets.modified webhook through the Procfile's web and worker: a value pasted into the vault by hand
is told in one line within 30 s, saying whether it works at Cloudflare; an unsigned, stale or replayed webhook gets
401 and changes nothing; the bot's own vault writes (a roll) produce no such message; /infisical/events is not
served without CFTOKEN_INFISICAL_WEBHOOK_SECRET."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from bench.processes import start_web, start_worker
from domain import metrics, vault_seen
from domain.queueing import SCAN_JOB, job_queue
from standins.cloudflare_state import new_value
from standins.world import CHANNEL, PROJECT_ID
from tests.integration.scenarios import leaks, redis_dump, token_values
from tests.integration.test_request_story import ask_and_approve
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
SECRET = "infisical-webhook-secret-for-the-stand-in"
DNS, PAGES, WAF = "CF_DNS_EDIT_GETRAXX_COM", "CF_PAGES_READ", "CF_WAF_EDIT_RAXX_APP"


def told(world) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(":pencil2:")]


@pytest.fixture
def running(world, redis_conn, redis_url):
    env = world.settings_env(redis_url=redis_url, cftoken_infisical_webhook_secret=SECRET)
    web, worker = start_web(env), start_worker(env)
    hook = world.infisical.webhooks.add(web.url + "/infisical/events", secret_key=SECRET, project_id=PROJECT_ID,
                                        environment=world.environment, secret_path=world.vault_path, delay=0.5)
    job_queue(redis_conn).enqueue_call(SCAN_JOB)  # the scan remembers the values the bot has seen
    wait_until(lambda: len(vault_seen.last_seen(redis_conn)) >= len(world.inventory.tokens), what="the baseline")
    try:
        yield web, hook
    finally:
        worker.stop()
        web.stop()


def test_a_value_pasted_by_hand_is_told_once_saying_whether_it_works(world, redis_conn, running):
    web, hook = running
    started = time.monotonic()

    world.put(DNS, new_value())  # a value Cloudflare never issued
    [broken] = wait_until(lambda: told(world) or None, what="the message about the pasted value")
    elapsed = time.monotonic() - started
    live = world.live_value(WAF)
    world.put(WAF, "placeholder")
    wait_until(lambda: len(told(world)) == 2, what="the second paste told")
    world.put(WAF, live)  # someone pastes the working value back
    wait_until(lambda: len(told(world)) == 3, what="the working value told")

    assert elapsed < 30
    assert broken.startswith(f":pencil2: *{DNS}*'s value in the vault was changed outside the bot; the new value "
                             "does *not* work: Cloudflare rejected the token under test"), broken
    assert told(world)[2].startswith(f":pencil2: *{WAF}*'s value in the vault was changed outside the bot; the new "
                                     f"value works: Cloudflare verifies it as active token `{world.token_ids[WAF]}`")
    assert [status for status, _ in hook.deliveries] == [202, 202, 202]
    assert metrics.audit_counts(redis_conn)[("outside_changes", "vault")] == 3
    assert not leaks(redis_dump(redis_conn) + "".join(told(world)).encode(), token_values(world) | {live})


@pytest.mark.parametrize("mode", ["unsigned", "late"])
def test_an_unsigned_or_stale_webhook_gets_401_and_changes_nothing(world, redis_conn, running, mode):
    web, hook = running
    hook.mode = mode
    seen = vault_seen.last_seen(redis_conn)

    world.put(DNS, new_value())
    wait_until(lambda: hook.deliveries, what="the delivery")

    assert [status for status, _ in hook.deliveries] == [401]
    assert vault_seen.last_seen(redis_conn) == seen and told(world) == []
    assert job_queue(redis_conn, "audit").count == 0


def test_a_replayed_webhook_gets_401_and_the_change_is_told_once(world, redis_conn, running):
    web, hook = running
    hook.mode = "twice"

    world.put(DNS, new_value())
    wait_until(lambda: len(hook.deliveries) == 2 and told(world), what="both deliveries and the message")

    assert [status for status, _ in hook.deliveries] == [202, 401]
    assert len(told(world)) == 1 and job_queue(redis_conn, "audit").count == 0


def test_the_bots_own_roll_writes_the_vault_and_says_nothing_of_it(world, redis_conn, running):
    web, hook = running

    ask_and_approve(world, redis_conn, web.url, f"roll {PAGES} quarterly", PAGES, f"✅ Rolled {PAGES}")
    wait_until(lambda: hook.deliveries, what="the webhook of the roll's write")
    wait_until(lambda: job_queue(redis_conn, "audit").count == 0, what="the event's job taken")
    world.put(DNS, new_value())  # a later hand change is still told: the worker has handled the roll's event
    wait_until(lambda: told(world), what="the hand change told")

    assert all(status == 202 for status, _ in hook.deliveries)
    assert len(told(world)) == 1 and DNS in told(world)[0] and PAGES not in "".join(told(world))


def test_without_the_secret_the_door_is_not_served(world, redis_url):
    web = start_web(world.settings_env(redis_url=redis_url))
    try:
        request = urllib.request.Request(web.url + "/infisical/events", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    finally:
        web.stop()

    refused.value.close()
    assert refused.value.code == 404
