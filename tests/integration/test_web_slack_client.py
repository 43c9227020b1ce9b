"""The web's Slack client against the Slack stand-in: one kept-alive connection, and the answers and errors
slack_sdk's own urllib client gives (so Bolt and our listeners see no difference but the handshakes saved)."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt.context.respond import Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.app import build_bolt_app
from bot.slack_http import KeepAliveRespond, KeepAliveWebClient, quick_client
from bot.usergroups import current_approvers
from domain import messages, requests
from domain.errors import ApproversUnavailable
from domain.inventory import load_inventory
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.slack import SlackStandIn, seed
from standins.slack_requests import block_action, slash_command
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL, make_settings
from tests.integration.test_slack_app import InlineExecutor

pytestmark = pytest.mark.integration

GROUP = "S0SREAPPR"  # seeded with Alice and Bob
SECRET = "test-signing-secret"


_opened: list[KeepAliveWebClient] = []


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    while _opened:
        _opened.pop().close()
    standin.stop()


def ours(slack: SlackStandIn, **options: Any) -> KeepAliveWebClient:
    client = KeepAliveWebClient(token=slack.bot_token, base_url=slack.url + "/api/", timeout=5, **options)
    _opened.append(client)
    return client


def clients(slack: SlackStandIn, **options: Any) -> list[WebClient]:
    """slack_sdk's own client and ours, configured alike."""
    return [WebClient(token=slack.bot_token, base_url=slack.url + "/api/", timeout=5, **options),
            ours(slack, **options)]


def outcome(call) -> tuple[Any, ...]:
    """What our code can see of a call: the answer's data and status, or the error's kind, Slack error, status and
    Retry-After."""
    try:
        answer = call()
        return ("ok", answer.status_code, answer.data)
    except SlackApiError as exc:
        headers = {k.lower(): v for k, v in exc.response.headers.items()}
        return ("SlackApiError", exc.response.status_code, exc.response.get("error"), headers.get("retry-after"))
    except OSError:  # urllib's URLError, a reset connection, a timeout: what usergroups turns into "unavailable"
        return ("OSError",)


def test_the_calls_the_web_makes_share_one_connection(slack):
    client = ours(slack)
    before = slack.connections

    client.auth_test()
    members = current_approvers([GROUP], conn=_NoCache(), client=client)
    modal = client.views_open(trigger_id=slack.new_trigger_id(APPROVER_B), view=_modal())
    client.chat_postEphemeral(channel=TEST_CHANNEL, user=APPROVER_B, text="refused")
    client.auth_test()

    assert members == {APPROVER_A, APPROVER_B} and modal["ok"]
    assert slack.count(prefix="/api/") == 5
    assert slack.connections - before == 1


def test_a_command_and_clicks_through_the_bolt_app_use_one_connection(slack, redis_conn):
    settings = make_settings(slack_api_url=slack.url + "/api/", slack_bot_token=slack.bot_token,
                             cftoken_approvers=GROUP)
    app = build_bolt_app(settings, redis_conn, job_queue(redis_conn), load_inventory(DEFAULT_INVENTORY),
                         listener_executor=InlineExecutor())
    _opened.append(app.client)
    before = slack.connections

    roll = dispatch(app, *slash_command(signing_secret=SECRET, text="roll CF_PAGES_DEPLOY", user_id=APPROVER_A,
                                        channel_id=TEST_CHANNEL, response_url=slack.new_response_url(APPROVER_A,
                                                                                                  TEST_CHANNEL)))
    (request,) = requests.open_requests(redis_conn, now=datetime.now(UTC))
    requests.attach_message(redis_conn, request.id, channel=TEST_CHANNEL, message_ts="1700000000.000100",
                            now=datetime.now(UTC))
    deny = dispatch(app, *click("deny", request.id, slack, trigger_id=slack.new_trigger_id(APPROVER_B)))
    approve = dispatch(app, *click("approve", request.id, slack))

    assert (roll.status, deny.status, approve.status) == (200, 200, 200)
    assert slack.count(prefix="/api/views.open") == 1 and job_queue(redis_conn).count == 1
    assert slack.count(prefix="/api/auth.test") == 1
    assert slack.count(prefix="/api/usergroups.users.list") == 3  # read fresh for each decision
    assert slack.connections - before == 1


def test_refusals_answered_through_their_response_urls_share_the_connection(slack, redis_conn):
    settings = make_settings(slack_api_url=slack.url + "/api/", slack_bot_token=slack.bot_token)
    app = build_bolt_app(settings, redis_conn, job_queue(redis_conn), load_inventory(DEFAULT_INVENTORY),
                         listener_executor=InlineExecutor())
    _opened.append(app.client)
    before = slack.connections
    dispatch(app, *slash_command(signing_secret=SECRET, text="roll CF_PAGES_DEPLOY", user_id=APPROVER_A,
                                 channel_id=TEST_CHANNEL,
                                 response_url=slack.new_response_url(APPROVER_A, TEST_CHANNEL)))
    (request,) = requests.open_requests(redis_conn, now=datetime.now(UTC))
    requests.attach_message(redis_conn, request.id, channel=TEST_CHANNEL, message_ts="1700000000.000100",
                            now=datetime.now(UTC))

    for user in (APPROVER_A, ENGINEER, APPROVER_A):
        dispatch(app, *click("approve", request.id, slack, user=user))

    told = {user: [slack.as_text(m) for m in slack.messages(TEST_CHANNEL, visible_to=user) if m.ephemeral_for]
            for user in (APPROVER_A, ENGINEER)}
    assert len(told[APPROVER_A]) == 2 and all("cannot approve" in text for text in told[APPROVER_A])
    assert len(told[ENGINEER]) == 1 and "only approvers" in told[ENGINEER][0]
    assert slack.count("POST", "/response/") == 3 and slack.count(prefix="/api/auth.test") == 1
    assert slack.connections - before == 1  # auth.test's, kept for the three answers
    assert job_queue(redis_conn).count == 0


def test_a_response_url_that_refuses_answers_as_bolts_own_respond_does(slack):
    pool = ours(slack).pool
    url = slack.new_response_url(APPROVER_B, TEST_CHANNEL)
    answers = []
    for respond in (Respond(response_url=url), KeepAliveRespond(response_url=url, pool=pool)):
        slack.clock.advance(timedelta(hours=1))  # past the URL's lifetime
        answer = respond(text="refused", response_type="ephemeral", replace_original=False)
        answers.append((answer.status_code, json.loads(answer.body)))

    assert answers[0] == answers[1] == (404, {"ok": False, "error": "expired_url"})


def test_ok_false_reaches_our_code_as_slack_sdk_raises_it(slack):
    seen = [outcome(lambda c=c: c.chat_postEphemeral(channel="C0NOSUCH1", user=APPROVER_B, text="x"))
            for c in clients(slack)]

    assert seen[0] == seen[1] == ("SlackApiError", 200, "channel_not_found", None)


def test_a_rate_limit_without_retries_carries_slacks_retry_after(slack):
    seen = []
    for client in clients(slack, retry_handlers=[]):
        slack.faults.fail_next("/api/auth.test", 1, "429", retry_after=7)
        seen.append(outcome(client.auth_test))

    assert seen[0] == seen[1] == ("SlackApiError", 429, "ratelimited", "7")


def test_a_rate_limit_is_waited_out_by_slack_sdks_handler_on_the_same_connection(slack):
    client = ours(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    slack.faults.fail_next("/api/auth.test", 1, "429", retry_after=0)
    before = slack.connections

    assert client.auth_test()["ok"]
    assert slack.count(prefix="/api/auth.test") == 2 and slack.connections - before == 1


def test_server_errors_and_dropped_connections_reach_our_code_as_before(slack):
    seen = []
    for client in clients(slack, retry_handlers=[]):
        slack.faults.fail_next("/api/auth.test", 1, "503")
        seen.append(outcome(client.auth_test))
        slack.faults.fail_next("/api/auth.test", 1, "drop")
        seen.append(outcome(client.auth_test))

    assert seen[:2] == seen[2:]
    assert seen[0] == ("SlackApiError", 503, "fatal_error", None)
    assert seen[1][0] == "OSError"


def test_a_dropped_connection_is_retried_by_slack_sdks_handler(slack):
    client = ours(slack, retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)])
    client.auth_test()
    slack.faults.fail_next("/api/auth.test", 1, "drop")

    assert client.auth_test()["ok"]
    assert slack.count(prefix="/api/auth.test") == 3


def test_a_group_read_that_fails_is_approvers_unavailable_not_a_crash(slack):
    client = ours(slack)
    for kind, times in (("drop", 2), ("503", 1), ("429", 1)):  # one dropped connection is sent again at once
        slack.faults.fail_next("/api/usergroups.users.list", times, kind)
        with pytest.raises(ApproversUnavailable):
            current_approvers([GROUP], conn=_NoCache(), client=client)

    assert current_approvers([GROUP], conn=_NoCache(), client=client) == {APPROVER_A, APPROVER_B}


class _NoCache:
    """Stands in for Redis where only the display cache is written."""

    def set(self, *args: Any, **kwargs: Any) -> None:
        return None


def _modal() -> dict[str, Any]:
    request = requests.Request(
        id="roll-0123456789ab", action="roll", token="CF_PAGES_DEPLOY", requester=APPROVER_A, reason="", state="pending",
        needed=1, created_at=datetime.now(UTC), expires_at=datetime.now(UTC), channel=TEST_CHANNEL,
        updated_at=datetime.now(UTC),
    )
    return messages.render_deny_modal(request)


def click(action_id: str, request_id: str, slack: SlackStandIn, *, user: str = APPROVER_B,
          **extra: Any) -> tuple[str, dict[str, str]]:
    return block_action(
        signing_secret=SECRET, action_id=action_id, value=request_id, user_id=user, channel_id=TEST_CHANNEL,
        message_ts="1700000000.000100",
        response_url=slack.new_response_url(user, TEST_CHANNEL, "1700000000.000100"), **extra,
    )


def dispatch(app, body: str, headers: dict[str, str]):
    return app.dispatch(BoltRequest(body=body, headers=headers))



def closing_second_request_server(answer: bytes) -> tuple[str, list[int], threading.Thread]:
    """A Slack-like server that keeps the first connection alive for one more request, then closes it without an
    answer (what Slack does to an idle connection just as a call goes out on it); later connections answer."""
    server = socket.create_server(("127.0.0.1", 0))
    connections: list[int] = []
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(answer)).encode()
                + b"\r\n\r\n" + answer)

    def serve() -> None:
        with server:
            while len(connections) < 2:
                conn, _ = server.accept()
                connections.append(len(connections) + 1)
                with conn:
                    if conn.recv(65536):
                        conn.sendall(response)
                    if len(connections) == 1:
                        conn.recv(65536)  # the second request on the kept-alive connection: closed unanswered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/api/", connections, thread


def test_an_approver_read_on_a_connection_slack_closed_is_sent_again_at_once_not_refused():
    """A fresh connection per call never met a closed one; the kept-alive pool must not turn that into "could not
    check the approver group"."""
    url, connections, server = closing_second_request_server(json.dumps({"ok": True, "users": [APPROVER_A]}).encode())
    client = KeepAliveWebClient(token="xoxb-test", base_url=url, timeout=5)
    _opened.append(client)
    quick = quick_client(client, 1.5)

    first = quick.usergroups_users_list(usergroup=GROUP)
    second = quick.usergroups_users_list(usergroup=GROUP)

    server.join(timeout=5)
    assert first["users"] == second["users"] == [APPROVER_A]
    assert connections == [1, 2]
