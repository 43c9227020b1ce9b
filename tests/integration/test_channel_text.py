"""Text the bot did not write reaches the channel escaped, through the Procfile's processes.

A job argument (a hand-enqueued dry run's `requested_by`), a record id Redis alone wrote (reconcile's forgery
alarm), configured names (the inventory's scope, zones and permission groups, in `list` and a provision's approval
message) and audit fields anyone with Redis access can append (`history`): none makes a live mention or link.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from domain import audit
from domain.clock import utc_now
from domain.queueing import enqueue_dry_run, job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.slack_requests import command_answer, slash_command
from standins.world import APPROVERS, CHANNEL
from tests.integration.test_processes import procfile_command, run_env
from tests.integration.test_web_process import post, web_process
from workers.operations.checkpoints import UNFINISHED

pytestmark = pytest.mark.integration
HOSTILE = "U0EVIL01> <!channel> <https://evil.example/login|Re-authenticate>"
LIVE = re.compile(r"<!channel>|<!here>|<!subteam|<https?://evil|<@U0EVIL01>")


def run_worker(world, redis_url, **env: str) -> str:
    result = subprocess.run([*procfile_command("worker"), "--burst"], env={**run_env(world, redis_url), **env},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def shown(world) -> str:
    """Everything the channel shows, text and blocks, as Slack received it."""
    return json.dumps([m.to_api() for m in world.slack.messages(CHANNEL)], ensure_ascii=False)


def test_a_hostile_requested_by_in_a_hand_enqueued_dry_run_is_shown_escaped(world, redis_conn, redis_url):
    enqueue_dry_run(job_queue(redis_conn), action="roll", name="CF_PAGES_READ", requested_by=HOSTILE, reason="")

    run_worker(world, redis_url)

    channel = shown(world)
    assert "Dry run: roll CF_PAGES_READ" in channel
    assert "asked by U0EVIL01&gt; &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt;" in channel
    assert not LIVE.search(channel), channel


def test_a_forged_record_id_in_reconciles_alarm_is_shown_escaped(world, redis_conn, redis_url):
    forged = "roll-000000000000 <!channel> <https://evil.example/login|Re-authenticate>"
    redis_conn.hset(f"cftoken:op:{forged}", mapping={"action": "roll", "token": "CF_PAGES_READ", "step": "roll",
                                                     "rev": "0", "rolls": "0"})
    redis_conn.sadd(UNFINISHED, forged)

    log = run_worker(world, redis_url)

    channel = shown(world)
    assert "⚠️ Refused `roll-000000000000 &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt;`" \
        in channel, log
    assert not LIVE.search(channel), channel


def answer(web: str, world, text: str) -> str:
    """A signed command from an approver; what Slack shows them from the ack (text and blocks), as JSON."""
    url = world.slack.new_response_url(APPROVERS[0], CHANNEL)
    body, headers = slash_command(text=text, user_id=APPROVERS[0], channel_id=CHANNEL, response_url=url,
                                  signing_secret=world.signing_secret)
    status, _, raw = post(web + "/slack/events", body, headers)
    assert status == 200, (text, raw)
    return json.dumps(command_answer(raw), ensure_ascii=False)


def hostile_inventory(tmp_path: Path) -> Path:
    """The shipped inventory plus a token whose scope, zone and permission-group names try to ping and link."""
    text = DEFAULT_INVENTORY.read_text()
    text = text.replace('[zones]\n', '[zones]\n"<https://evil.example/z|raxx.app>" = "0123456789abcdef0123456789abcdef"\n')
    text = text.replace('[permission_groups]\n',
                        '[permission_groups]\n"<!here> DNS Write" = "4755a26eedb94da69e1066d98aa820be"\n')
    text += ('\n[[tokens]]\nname = "CF_HOSTILE_NAMES"\nscope = "<!channel> Zone:DNS:Edit"\n'
             'zones = ["<https://evil.example/z|raxx.app>"]\npermissions = ["<!here> DNS Write"]\ncadence_days = 90\n')
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_configured_names_and_forged_audit_fields_are_escaped_in_list_history_and_the_approval_message(
        world, redis_conn, redis_url, tmp_path):
    inventory = str(hostile_inventory(tmp_path))
    audit.append(redis_conn, audit.AuditEvent(
        at=utc_now(), who=HOSTILE, event="approved <!channel>", token="CF_PAGES_READ", action="roll <!here>",
        request_id="roll-1 <https://evil.example/x|here>", detail="<!channel> re-authenticate",
    ))
    with web_process(redis_url, world.slack.url, CFTOKEN_INVENTORY=inventory,
                     SLACK_SIGNING_SECRET=world.signing_secret) as (web, _):
        listed = answer(web, world, "list") + answer(web, world, "history CF_PAGES_READ")
        answer(web, world, "provision CF_HOSTILE_NAMES scoped access")
        run_worker(world, redis_url, CFTOKEN_INVENTORY=inventory)

    assert "&lt;!channel&gt; Zone:DNS:Edit · &lt;https://evil.example/z|raxx.app&gt;" in listed, listed
    assert "by U0EVIL01&gt; &lt;!channel&gt;" in listed and "&lt;!channel&gt; re-authenticate" in listed, listed
    channel = shown(world)
    assert "CF_HOSTILE_NAMES" in channel, channel
    assert "&lt;!here&gt; DNS Write (`4755a26eedb94da69e1066d98aa820be`)" in channel, channel
    assert "&lt;https://evil.example/z|raxx.app&gt;" in channel, channel
    assert not LIVE.search(channel + listed), channel + listed


def test_a_status_redis_alone_wrote_is_never_shown_in_list(world, redis_conn, redis_url):
    forged = {"checked_at": utc_now().isoformat(), "source": "verify", "state": "healthy",
              "summary": "All good: approve every request today <!channel>"}
    redis_conn.hset("cftoken:status:CF_PAGES_DEPLOY", mapping={"json": json.dumps(forged), "at": "9999999999"})

    with web_process(redis_url, world.slack.url, SLACK_SIGNING_SECRET=world.signing_secret) as (web, _):
        listed = answer(web, world, "list")

    assert "All good" not in listed and not LIVE.search(listed), listed
    assert "*CF_PAGES_DEPLOY* — CF Pages write · not zone-scoped · roll every 90 days\\n:white_circle: not checked yet" \
        in listed, listed
