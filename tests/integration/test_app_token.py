"""A wrong or refused SLACK_APP_TOKEN never takes HTTP down (issue 23, finding 5): the web keeps answering signed
commands and /healthz, says why in one line, and retries Socket Mode with backoff; `cftoken check` (the release
step) verifies the app token when it is set and exits 1 naming it."""

from __future__ import annotations

import pytest

from domain.queueing import job_queue
from standins.slack import SlackStandIn, seed
from tests.conftest import ENGINEER
from tests.integration.test_preflight import check, lines
from tests.integration.test_web_process import command, get, queued, wait_connected, web_process
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    standin.enable_socket_mode()
    yield standin
    standin.stop()


def refusals(log: list[str]) -> list[str]:
    return [line for line in log if "SLACK_APP_TOKEN" in line or "apps.connections.open" in line]


@pytest.mark.parametrize(("token", "code"), [("xapp-1-A0WRONG-not-the-token", "invalid_auth"),
                                             ("xoxb-standin-token", "not_allowed_token_type")])
def test_the_web_with_a_wrong_app_token_serves_http_and_healthz_and_says_why_once(redis_url, slack, redis_conn,
                                                                                   token, code):
    with web_process(redis_url, slack.url, SLACK_APP_TOKEN=token) as (url, log):
        status, seconds, answer = command(url, slack, "verify CF_PAGES_READ", ENGINEER)
        health = get(url + "/healthz")
        wait_until(lambda: slack.count("POST", "/api/apps.connections.open") >= 2, what="a second connection try")
        said = refusals(log)
        everything = "".join(log)

    assert (status, health) == ((200), (200, "ok\n"))
    assert seconds < 3 and "Verifying *CF_PAGES_READ*" in answer
    (job,) = queued(redis_conn, 1)
    assert job.kwargs["name"] == "CF_PAGES_READ"
    assert len(said) == 1 and f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {code})" in said[0]
    assert "HTTP is still served" in said[0]
    assert "Traceback" not in everything and token not in everything
    assert slack.socket_mode.connections == 0


def test_the_web_connects_over_socket_mode_once_slack_stops_answering_503(redis_url, slack, redis_conn):
    slack.faults.fail_next("/api/apps.connections.open", 1, "503")

    with web_process(redis_url, slack.url, SLACK_APP_TOKEN=slack.app_token) as (url, log):
        assert get(url + "/healthz") == (200, "ok\n")
        wait_connected(slack.socket_mode)
        said = refusals(log)

    assert len(said) == 1 and "Slack could not open a Socket Mode connection (apps.connections.open: HTTP 503" in said[0]
    assert job_queue(redis_conn).count == 0


def test_cftoken_check_names_a_wrong_app_token_and_exits_1(world, redis_url):
    world.slack.enable_socket_mode()

    wrong = check(world.settings_env(redis_url=redis_url, slack_app_token="xapp-1-A0WRONG-not-the-token"))
    right = check(world.settings_env(redis_url=redis_url, slack_app_token=world.slack.app_token))

    assert wrong.returncode == 1, wrong.stderr
    assert lines(wrong) == ["Slack refused SLACK_APP_TOKEN (apps.connections.open: invalid_auth): copy the App-Level "
                            "Token (xapp-…, scope connections:write, Basic Information) again, turn Socket Mode on, "
                            "or unset it"]
    assert "not-the-token" not in wrong.stderr + wrong.stdout
    assert right.returncode == 0, right.stderr
