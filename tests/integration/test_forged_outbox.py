"""What the bot shows is what its records say: outbox entries Redis alone wrote (or changed) are never shown.

Someone with write access to Redis queues what the deliverer would post: a top-level message with `<!channel>`, a
phishing link and a copied Approve button; a redraw of a pending revoke's message that makes it read as another
token's roll; a "✅ Rolled" reply in a pending roll's thread; or changes the text of a genuine queued reply. The
Procfile's worker posts none of them, leaves the revoke's message as it was, logs and audits each refusal and
raises one ⚠️ that quotes nothing forged, and still delivers the genuine post queued beside them.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from domain import audit, outbox, requests
from standins.world import APPROVERS, CHANNEL
from tests.integration.scenarios import _post_as_bot
from tests.integration.test_processes import procfile_command, run_env

pytestmark = pytest.mark.integration
FORGED = "Re-authenticate"
WARNING = "⚠️ Refused a channel message cftoken did not write"
APPROVE_BUTTON = [{"type": "actions", "elements": [{"type": "button", "action_id": "approve", "value": "x",
                                                   "text": {"type": "plain_text", "text": "Approve"}}]}]


def pending(conn, world, action: str, token: str) -> requests.Request:
    """A pending request whose approval message is in the channel (as the web and the deliverer leave it)."""
    now = world.clock.now()
    request = requests.open_request(conn, action=action, token=token, requester=APPROVERS[0], reason="quarterly",
                                    needed=1, ttl=timedelta(minutes=30), channel=CHANNEL, now=now)
    ts = _post_as_bot(world, f"{action} {token} — waiting for approval")
    return requests.attach_message(conn, request.id, channel=CHANNEL, message_ts=ts, now=now)


def forge(conn, key: str, conversation: str, text: str, **fields: str) -> None:
    """What a Redis writer does: an entry in the outbox's shape (no tag, or the fields changed), queued and due."""
    entry = {"key": key, "conversation": conversation, "text": text, "blocks": json.dumps(APPROVE_BUTTON),
             "request_id": "", "broadcast": "", "created": "0", "update_ts": "", **fields}
    conn.hset(outbox.post_key(key), mapping=entry)
    conn.rpush(outbox.queue_key(conversation), key)
    conn.zadd(outbox.DUE, {conversation: 0})


def run_worker(world, redis_url) -> str:
    result = subprocess.run([*procfile_command("worker"), "--burst"], env=run_env(world, redis_url),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("forgery", ["new post", "redraw of a pending revoke", "thread reply", "altered reply"])
def test_a_forged_or_altered_outbox_entry_is_never_shown_and_raises_one_warning(world, redis_conn, redis_url,
                                                                                 forgery):
    revoke = pending(redis_conn, world, "revoke", "CF_PAGES_DEPLOY")
    roll = pending(redis_conn, world, "roll", "CF_DNS_EDIT_GETRAXX_COM")
    if forgery == "new post":
        forge(redis_conn, "evil", "post:evil", f"<!channel> Your Cloudflare session expired: <https://evil.example|"
                                              f"{FORGED}>")
    elif forgery == "redraw of a pending revoke":
        forge(redis_conn, "evil-redraw", "post:evil-redraw", f"Roll CF_PAGES_READ — waiting for approval ({FORGED})",
              update_ts=revoke.message_ts)
    elif forgery == "thread reply":
        forge(redis_conn, f"{roll.id}:result", roll.id, f"✅ Rolled CF_DNS_EDIT_GETRAXX_COM ({FORGED})",
              request_id=roll.id)
    else:  # a genuine reply, its words changed before delivery
        outbox.post(redis_conn, f"{roll.id}:note", "The roll is waiting for approval.", request_id=roll.id,
                    now=world.clock.now())
        redis_conn.hset(outbox.post_key(f"{roll.id}:note"), "text", f"✅ Rolled, approve the revoke too ({FORGED})")
    outbox.post(redis_conn, "genuine", "A genuine notice from the bot.", now=world.clock.now())

    log = run_worker(world, redis_url)

    shown = json.dumps([m.to_api() for m in world.slack.messages(CHANNEL)], ensure_ascii=False)
    assert FORGED not in shown and "<!channel>" not in shown and "action_id\": \"approve" not in shown, shown
    assert world.slack.message(CHANNEL, revoke.message_ts).text == "revoke CF_PAGES_DEPLOY — waiting for approval"
    assert [m.text for m in world.slack.thread(CHANNEL, roll.message_ts)[1:]] == []
    warnings = [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(WARNING)]
    assert len(warnings) == 1, world.slack.channel_transcript(CHANNEL)
    assert "A genuine notice from the bot." in shown
    assert "outbox: refused the entry" in log
    assert ("refused", "cftoken") in [(e.event, e.who) for e in audit.recent(redis_conn, "unknown")]
