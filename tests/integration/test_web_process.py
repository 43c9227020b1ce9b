"""The web process as deployed: the Procfile's `web` line (bounded waitress serving bot.web:application)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qsl, quote_plus, urlsplit
from urllib.request import Request, urlopen

import pytest

from bench.slow import SlowClients
from bot.serve import MAX_BODY_BYTES, READ_SECONDS
from domain import requests
from domain.clock import utc_now
from domain.queueing import job_queue
from standins.base import WAIT_CEILING
from standins.slack import SlackStandIn, seed
from standins.slack_requests import block_action, command_answer, signed_headers, slash_command
from standins.world import SECRET_KEY
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL
from tests.integration.scenarios import delivering
from tests.integration.test_processes import procfile_line
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

SECRET = "web-signing-secret"
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def web_process(redis_url: str, slack_url: str, **extra: str) -> Iterator[tuple[str, list[str]]]:
    """Run the Procfile's `web` line on a free port with the environment DESIGN.md names; yield (URL, log)."""
    env = {
        **os.environ, "REDIS_URL": redis_url, "SLACK_API_URL": slack_url + "/api/",
        "SLACK_BOT_TOKEN": "xoxb-standin-token", "SLACK_SIGNING_SECRET": SECRET,
        "CFTOKEN_CHANNEL_ID": TEST_CHANNEL, "CFTOKEN_APPROVERS": f"{APPROVER_A},{APPROVER_B}",
        "INFISICAL_CLIENT_ID": "test", "INFISICAL_CLIENT_SECRET": "test", "INFISICAL_PROJECT_ID": "test",
        "CFTOKEN_SECRET_KEY": SECRET_KEY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "PORT": "0",
    }
    env.pop("SLACK_APP_TOKEN", None)
    env.update(extra)
    for name in [name for name, value in extra.items() if value == ""]:
        del env[name]  # "" here means: leave the variable unset
    line = procfile_line("web").replace("0.0.0.0:", "127.0.0.1:")  # loopback only
    process = subprocess.Popen(["/bin/sh", "-c", line], cwd=REPO, env=env,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    found: list[str] = []
    log: list[str] = []
    ready = threading.Event()

    def drain() -> None:  # keep reading so the server never blocks on a full pipe
        for line in process.stderr:
            log.append(line)
            match = re.search(r"Listening at: (http://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        assert ready.wait(WAIT_CEILING), "web did not start:\n" + "".join(log)
        _wait_until_serving(found[0])
        yield found[0], log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        drainer.join(timeout=5)
        process.stderr.close()


def queued(conn, count: int) -> list:
    """The queue's jobs once it holds `count` (a verify is queued just after its ack)."""
    wait_until(lambda: job_queue(conn).count >= count, what=f"{count} queued job(s)")
    return job_queue(conn).jobs


def _wait_until_serving(url: str) -> None:
    wait_until(lambda: get(url + "/healthz")[0] in (200, 503), what="the web to answer /healthz")


def get(url: str) -> tuple[int, str]:
    try:
        with urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, float, str]:
    """POST a signed Slack request; (status, seconds until the answer, the answer's body)."""
    started = time.monotonic()
    try:
        with urlopen(Request(url, data=body.encode(), headers=headers, method="POST"), timeout=10) as response:
            return response.status, time.monotonic() - started, response.read().decode()
    except HTTPError as error:
        return error.code, time.monotonic() - started, ""


@pytest.fixture(scope="module")
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def web_server(redis_url, slack):
    with web_process(redis_url, slack.url) as served:
        yield served


@pytest.fixture
def web(web_server):
    return web_server[0]


def command(web: str, slack: SlackStandIn, text: str, user: str, **signing) -> tuple[int, float, str]:
    """Send a signed command; (status, seconds, the text Slack would show the person from the ack)."""
    signing.setdefault("signing_secret", SECRET)
    url = slack.new_response_url(user, TEST_CHANNEL)
    body, headers = slash_command(text=text, user_id=user, channel_id=TEST_CHANNEL, response_url=url, **signing)
    status, seconds, answer = post(web + "/slack/events", body, headers)
    shown = command_answer(answer) or {}
    return status, seconds, str(shown.get("text", ""))


def test_healthz_answers_200_when_redis_answers(web, redis_conn):
    assert get(web + "/healthz") == (200, "ok\n")


def test_healthz_answers_503_when_redis_does_not(slack):
    with web_process("redis://127.0.0.1:1/0", slack.url) as (url, _):
        assert get(url + "/healthz") == (503, "redis unreachable\n")


def test_other_paths_are_not_found(web):
    assert get(web + "/")[0] == 404


def test_verify_over_http_is_acked_at_once_and_queued(web, slack, redis_conn):
    status, seconds, answer = command(web, slack, "verify CF_PAGES_READ", ENGINEER)

    (job,) = queued(redis_conn, 1)
    assert (status, job.func_name, job.kwargs["name"]) == (200, "workers.jobs.verify_token", "CF_PAGES_READ")
    assert seconds < 3
    assert "Verifying *CF_PAGES_READ*" in answer


def test_bad_input_over_http_is_acked_and_answered(web, slack, redis_conn):
    status, _, answer = command(web, slack, "revoke CF_PAGES_READ", APPROVER_B)

    assert "A revoke needs a reason" in answer
    assert status == 200
    assert job_queue(redis_conn).count == 0


@pytest.mark.parametrize("forgery", ["wrong secret", "six minutes old"])
def test_forged_or_stale_requests_get_401_and_change_nothing(web, slack, redis_conn, forgery):
    signing = (
        {"signing_secret": "not-the-secret"} if forgery == "wrong secret" else {"timestamp": int(time.time()) - 6 * 60}
    )
    before = len(slack.messages(TEST_CHANNEL, visible_to=APPROVER_A))

    status, _, _ = command(web, slack, "roll CF_DNS_EDIT_GETRAXX_COM", APPROVER_A, **signing)

    assert status == 401
    time.sleep(0.2)
    assert len(slack.messages(TEST_CHANNEL, visible_to=APPROVER_A)) == before
    assert requests.open_requests(redis_conn, now=utc_now()) == []


def test_roll_then_approve_over_http_queues_the_request_job(web, slack, redis_conn):
    with delivering(redis_conn, slack.url):  # the worker's outbox thread, which posts the approval message
        roll_then_approve(web, slack, redis_conn)


def roll_then_approve(web, slack, redis_conn) -> None:
    command(web, slack, "roll CF_DNS_EDIT_GETRAXX_COM over http", APPROVER_A)
    posted = slack.wait_for(
        lambda m: "over http" in slack.as_text(m) and m.ephemeral_for is None and m.thread_ts in (None, m.ts)
    )
    request_id = re.search(r"Request `(roll-[0-9a-f]+)`", slack.as_text(posted)).group(1)
    wait_until(lambda: requests.load(redis_conn, request_id, now=utc_now()).message_ts == posted.ts,
               what="the bot to record its approval message (a person cannot click sooner)")

    body, headers = block_action(
        signing_secret=SECRET, action_id="approve", value=request_id, user_id=APPROVER_B, channel_id=TEST_CHANNEL,
        message_ts=posted.ts, message=posted.to_api(),
        response_url=slack.new_response_url(APPROVER_B, TEST_CHANNEL, posted.ts),
    )
    status, _, _ = post(web + "/slack/events", body, headers)

    slack.wait_for(lambda m: m.ts == posted.ts and "approved and queued" in slack.as_text(m))
    (job,) = job_queue(redis_conn).jobs
    assert (status, job.id, job.func_name) == (200, request_id, "workers.jobs.run_request")


def post_raw(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    try:
        with urlopen(Request(url, data=body, headers=headers, method="POST"), timeout=10) as response:
            return response.status, response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def signed_payload(payload: str) -> tuple[bytes, dict[str, str]]:
    body = "payload=" + quote_plus(payload)
    return body.encode(), signed_headers(SECRET, body)


@pytest.mark.parametrize(
    ("case", "status"),
    [("timestamp abc", 401), ("no signature", 401), ("actions []", 400), ("payload not JSON", 400),
     ("payload a list", 400), ("command without fields", 400), ("body not UTF-8", 401)],
)
def test_malformed_requests_get_4xx_and_no_traceback(web_server, redis_conn, case, status):
    url, log = web_server
    body, headers = signed_payload(json.dumps({"type": "block_actions", "actions": [], "user": {"id": APPROVER_B},
                                               "team": {"id": "T0CFTOKEN"}, "container": {}, "channel": {"id": "C"},
                                               "response_url": "http://x"}))
    if case == "timestamp abc":
        headers["X-Slack-Request-Timestamp"] = "abc"
    elif case == "no signature":
        del headers["X-Slack-Signature"]
    elif case == "payload not JSON":
        body, headers = signed_payload("{not json")
    elif case == "payload a list":
        body, headers = signed_payload("[1, 2]")
    elif case == "command without fields":
        body, headers = b"command=%2Fcftoken&text=verify", signed_headers(SECRET, "command=%2Fcftoken&text=verify")
    elif case == "body not UTF-8":
        body = b"payload=\xff\xfe"
        headers = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
    before = len(log)

    answered, _ = post_raw(url + "/slack/events", body, headers)

    assert answered == status
    assert job_queue(redis_conn).count == 0
    assert "Traceback" not in "".join(log[before:])


def test_a_body_over_the_limit_is_refused_unread(web):
    body = b"x" * (MAX_BODY_BYTES + 1)

    status, _ = post_raw(web + "/slack/events", body, signed_headers(SECRET, body.decode()))

    assert status == 413


def test_a_signed_request_naming_a_response_url_off_slack_is_refused_and_answers_nobody(web, slack, redis_conn):
    body, headers = slash_command(signing_secret=SECRET, text="verify CF_PAGES_READ", user_id=ENGINEER,
                                  channel_id=TEST_CHANNEL, response_url="https://attacker.example/collect")

    status, _, _ = post(web + "/slack/events", body, headers)

    assert status == 400
    assert job_queue(redis_conn).count == 0


def test_a_slow_group_lookup_does_not_make_the_ack_late_and_opens_nothing(redis_url, slack, redis_conn):
    with web_process(redis_url, slack.url, CFTOKEN_APPROVERS="S0SREAPPR") as (url, _):
        held = slack.faults.hold("/api/usergroups.users.list")
        try:
            status, seconds, answer = command(url, slack, "roll CF_DNS_EDIT_GETRAXX_COM slow slack", APPROVER_A)
            held.wait_until_arrived()
        finally:
            time.sleep(max(0.0, 3.5 - seconds))  # Slack answers after 3.5 s, long after the bot gave up on it
            held.release(proceed=True)

    assert (status, seconds < 3) == (200, True)
    assert "Could not check the approver group" in answer and "no request was opened" in answer
    assert requests.open_requests(redis_conn, now=utc_now()) == []
    assert not any("slow slack" in slack.as_text(m) for m in slack.messages(TEST_CHANNEL))


def command_fields(text: str, user: str, slack: SlackStandIn, **signing) -> dict[str, str]:
    """A slash command's fields as Socket Mode carries them (the payload of a slash_commands envelope)."""
    body, _ = slash_command(signing_secret=SECRET, text=text, user_id=user, channel_id=TEST_CHANNEL,
                            response_url=slack.new_response_url(user, TEST_CHANNEL), **signing)
    return dict(parse_qsl(body, keep_blank_values=True))


def wait_connected(socket_mode) -> None:
    wait_until(lambda: socket_mode.connections > 0, what="the web to connect over Socket Mode")


def test_with_an_app_token_set_http_still_refuses_unsigned_requests_and_changes_nothing(redis_url, slack, redis_conn):
    slack.enable_socket_mode()
    body, _ = slash_command(signing_secret=SECRET, text="roll CF_DNS_EDIT_GETRAXX_COM", user_id=APPROVER_A,
                            channel_id=TEST_CHANNEL, response_url=slack.new_response_url(APPROVER_A, TEST_CHANNEL))
    forged, forged_headers = slash_command(signing_secret="guessed", text="verify CF_PAGES_READ", user_id=ENGINEER,
                                           channel_id=TEST_CHANNEL, response_url=slack.new_response_url(ENGINEER, TEST_CHANNEL))

    with web_process(redis_url, slack.url, SLACK_APP_TOKEN=slack.app_token) as (url, _):
        wait_connected(slack.socket_mode)
        unsigned = post(url + "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded"})[0]
        wrong = post(url + "/slack/events", forged, forged_headers)[0]

    assert (unsigned, wrong) == (401, 401)
    time.sleep(0.2)
    assert job_queue(redis_conn).count == 0
    assert requests.open_requests(redis_conn, now=utc_now()) == []


def test_socket_mode_without_a_signing_secret_does_not_serve_slack_events_at_all(redis_url, slack, redis_conn):
    slack.enable_socket_mode()
    body, headers = slash_command(signing_secret="", text="verify CF_PAGES_READ", user_id=ENGINEER,
                                  channel_id=TEST_CHANNEL, response_url=slack.new_response_url(ENGINEER, TEST_CHANNEL))

    with web_process(redis_url, slack.url, SLACK_APP_TOKEN=slack.app_token, SLACK_SIGNING_SECRET="") as (url, _):
        wait_connected(slack.socket_mode)
        status = post(url + "/slack/events", body, headers)[0]
        health = get(url + "/healthz")[0]

    assert (status, health) == (404, 200)
    assert job_queue(redis_conn).count == 0


def test_socket_mode_commands_arrive_over_the_socket_and_are_checked_like_http_ones(redis_url, slack, redis_conn):
    socket_mode = slack.enable_socket_mode()

    with web_process(redis_url, slack.url, SLACK_APP_TOKEN=slack.app_token, SLACK_SIGNING_SECRET="") as (url, _):
        wait_connected(socket_mode)
        ours = socket_mode.deliver("slash_commands", command_fields("verify CF_PAGES_READ", ENGINEER, slack))
        theirs = socket_mode.deliver(
            "slash_commands", command_fields("verify CF_PAGES_READ", ENGINEER, slack, team_id="T0ELSEWHERE"),
        )

    (job,) = queued(redis_conn, 1)
    assert job.kwargs["name"] == "CF_PAGES_READ"
    assert "Verifying *CF_PAGES_READ*" in ours["payload"]["text"]
    assert "another Slack workspace" in theirs["payload"]["text"]


def test_signed_commands_are_answered_within_3_s_beside_40_slow_clients(web, slack, redis_conn):
    host, port = web.removeprefix("http://").split(":")
    slow = SlowClients(host, int(port), 40).start()  # each declares 100 kB and sends 1 byte a second
    try:
        time.sleep(1.5)
        answers = [command(web, slack, "verify CF_PAGES_READ", ENGINEER) for _ in range(3)]
    finally:
        slow.stop()

    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert max(seconds for _, seconds, _ in answers) < 3
    assert len(queued(redis_conn, 3)) == 3


def test_a_request_still_incomplete_after_the_read_deadline_is_dropped(web):
    host, port = web.removeprefix("http://").split(":")
    slow = SlowClients(host, int(port), 1, interval=0.5, reconnect=False).start()
    try:
        wait_until(lambda: slow.dropped_after, what="the web to drop the incomplete request")
    finally:
        slow.stop()

    (after,) = slow.dropped_after
    assert READ_SECONDS <= after < READ_SECONDS + 3


def test_a_refusal_reaches_the_clicker_through_its_response_url_which_the_log_never_shows(web_server, slack):
    web, log = web_server
    url = slack.new_response_url(APPROVER_B, TEST_CHANNEL, "1700000000.000200")
    body, headers = block_action(
        signing_secret=SECRET, action_id="approve", value="roll-000000000000", user_id=APPROVER_B,
        channel_id=TEST_CHANNEL, message_ts="1700000000.000200", response_url=url,
    )

    status, _, _ = post(web + "/slack/events", body, headers)
    told = slack.wait_for(lambda m: m.ephemeral_for == APPROVER_B and "does not exist" in slack.as_text(m))

    assert status == 200 and told.channel == TEST_CHANNEL
    assert not any(urlsplit(url).path in line for line in log)
