"""A revoke's blast radius through the Procfile's web and worker: the approval message (redrawn once the worker has
read the audit log), the result and the FreeScout incident show what the token did at Cloudflare — its changes by
action and resource, its distinct IPs — and with no audit token each says so in one line while the revoke runs."""

from __future__ import annotations

import re

import pytest

from bench.processes import start_web, start_worker
from domain import requests
from domain.blast_radius import slack_lines
from domain.clock import utc_now
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL
from tests.conftest import make_settings
from tests.integration.audit_world import audit_world, seed_activity
from tests.integration.scenarios import leaks, redis_dump, token_values
from tests.integration.test_request_story import replies, send, top_level
from tests.waiting import wait_until
from workers.audit.radius import read_radius
from workers.clients.http import RetryPolicy
from workers.services import build_services

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
DNS = "CF_DNS_EDIT_GETRAXX_COM"
CHANGES = "12 DNS record updates on getraxx.com, 1 WAF rule update on raxx.app"


def ask(world, web_url: str, text: str):
    signed = slash_command(signing_secret=world.signing_secret, text=text, user_id=ALICE, channel_id=CHANNEL,
                           response_url=world.slack.new_response_url(ALICE, CHANNEL))
    assert send(web_url, signed) == 200
    return wait_until(lambda: next((m for m in top_level(world) if "[Approve]" in world.slack.as_text(m)), None),
                      what="the approval message")


def shown(world, message) -> str:
    return world.slack.as_text(world.slack.message(CHANNEL, message.ts))


def approve_and_wait(world, redis_conn, web_url: str, message) -> str:
    request_id = re.search(r"revoke-[0-9a-f]{12}", world.slack.as_text(message)).group(0)
    wait_until(lambda: requests.load(redis_conn, request_id, now=utc_now()).message_ts == message.ts,
               what="the message recorded")
    assert send(web_url, world.signed_click("approve", request_id, user=BOB, message_ts=message.ts)) == 200
    return wait_until(lambda: next((t for t in replies(world, message.ts) if t.startswith(f"✅ Revoked {DNS}")),
                                   None), what="the revoke's result")


def incident(world) -> str:
    [conversation] = world.freescout.conversations()
    return "\n".join(thread["body"] for thread in conversation["_embedded"]["threads"])


def test_a_revoke_shows_what_the_token_did_in_its_approval_message_result_and_incident(tmp_path, redis_conn,
                                                                                       redis_url):
    with audit_world(tmp_path) as (world, inventory):
        ips = seed_activity(world, DNS)
        env = world.settings_env(redis_url=redis_url, cftoken_inventory=str(inventory))
        web, worker = start_web(env), start_worker(env)
        try:
            message = ask(world, web.url, f"revoke {DNS} leaked in a CI log")
            wait_until(lambda: CHANGES in shown(world, message), what="the redraw with the blast radius")
            approval = shown(world, message)
            result = approve_and_wait(world, redis_conn, web.url, message)
            wait_until(lambda: world.freescout.conversations() and "Audit log entries" in incident(world),
                       what="the incident's audit notes")
        finally:
            worker.stop()
            web.stop()

        for text in (approval, result, incident(world)):
            assert CHANGES in text
            assert all(ip in text for ip in ips), text
            assert "192.0.2.99" not in text, "an entry older than CFTOKEN_AUDIT_DAYS is left out"
        assert "From 2 IP addresses" in approval and "`198.51.100.7` (9," in approval
        assert "Audit log entries 1–13 of 13" in incident(world)
        assert incident(world).count("PATCH /zones/") == 13
        values = token_values(world)
        assert not leaks(incident(world) + approval + result, values)
        assert not leaks(redis_dump(redis_conn), values)


def test_without_an_audit_token_each_says_so_in_one_line_and_the_revoke_runs(world, redis_conn, redis_url):
    env = world.settings_env(redis_url=redis_url)
    web, worker = start_web(env), start_worker(env)
    try:
        message = ask(world, web.url, f"revoke {DNS} leaked in a CI log")
        wait_until(lambda: "Audit log not read" in shown(world, message), what="the one-line refusal")
        approval = shown(world, message)
        result = approve_and_wait(world, redis_conn, web.url, message)
        wait_until(lambda: world.freescout.conversations(), what="the incident")
    finally:
        worker.stop()
        web.stop()

    assert world.cloudflare.token(world.token_ids[DNS]) is None, "the revoke ran"
    for text in (approval, result, incident(world)):
        [line] = [line for line in text.splitlines() if "Audit log not read" in line]
        assert "account_id" in line and "audit_token" in line, line


def test_a_cloudflare_that_ignores_the_positive_filter_still_gives_only_the_tokens_own_changes(tmp_path, redis_conn,
                                                                                            redis_url):
    with audit_world(tmp_path) as (world, inventory):
        seed_activity(world, DNS)
        seed_activity(world, "CF_WAF_EDIT_RAXX_APP")  # another token's changes, in the same log
        world.cloudflare.audit_positive_filters = False
        settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_inventory=str(inventory))
        services = build_services(settings, clock=world.clock.now, retry=RetryPolicy.instant())
        try:
            found = read_radius(services, services.read_vault(), services.inventory.find(DNS), world.token_ids[DNS],
                                None)
        finally:
            services.close()

    assert found.total == 13 and "12 DNS record updates on getraxx.com" in "\n".join(slack_lines(found))
