"""Approvers per token: a token whose inventory entry names its own approvers (a user group, read fresh at every
decision) and approvals is asked for and approved only by them, through signed commands and clicks into the Bolt
app; every other token keeps CFTOKEN_APPROVERS. `cftoken check` names an approver Slack does not know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from slack_sdk import WebClient

from domain import requests
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins.slack import SlackStandIn, seed
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL, make_settings
from tests.integration.test_slack_app import T0, Workspace
from workers.cli.approvers_check import approvers_check

pytestmark = pytest.mark.integration
OWN, OTHER = "CF_PAGES_DEPLOY", "CF_WAF_EDIT_RAXX_APP"
GROUP = "S0SECURITY"
DAVE, ERIN = "U0DAVE004", "U0ERIN005"  # in the security group, not global approvers (APPROVER_A and _B are)


def inventory_with(tmp_path: Path, lines: str):
    """The shipped inventory with `lines` added to OWN's entry."""
    text, found = re.subn(rf'name = "{OWN}"\n', f'name = "{OWN}"\n{lines}\n',
                          Path(DEFAULT_INVENTORY).read_text(encoding="utf-8"))
    assert found == 1
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return load_inventory(path)


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    for user, name in ((DAVE, "dave"), (ERIN, "erin")):
        standin.add_user(user, name, name.title())
        standin.channels[TEST_CHANNEL]["members"].append(user)
    standin.add_usergroup(GROUP, [DAVE, ENGINEER, ERIN])
    yield standin
    standin.stop()


def workspace(slack, redis_conn, tmp_path, approvals: int = 1) -> Workspace:
    inventory = inventory_with(tmp_path, f'approvers = ["{GROUP}"]\napprovals = {approvals}')
    return Workspace(slack, redis_conn, inventory=inventory)


def test_a_token_whose_approvers_are_a_group_is_asked_for_and_approved_only_by_its_members(slack, redis_conn,
                                                                                         tmp_path):
    ws = workspace(slack, redis_conn, tmp_path)

    ws.type(f"roll {OWN} quarterly", user=APPROVER_A)
    outsider_asked = ws.told(APPROVER_A)
    ws.type(f"roll {OWN} quarterly", user=DAVE)
    message = ws.request_message()
    ws.click("approve", message, user=APPROVER_B)
    outsider_approved = ws.told(APPROVER_B)
    jobs_after_outsider = ws.queue.count
    ws.click("approve", message, user=ENGINEER)

    assert "only approvers can ask for a roll" in outsider_asked
    assert "only approvers can approve" in outsider_approved and jobs_after_outsider == 0
    assert f"Approved by <@{ENGINEER}>" in ws.read(message)
    assert ws.queue.count == 1 and requests.open_requests(ws.redis, now=T0) == []
    assert any(f"<!subteam^{GROUP}>" in reply for reply in ws.thread(message))  # the group was asked


def test_the_approval_message_names_the_tokens_approvers_while_it_waits(slack, redis_conn, tmp_path):
    ws = workspace(slack, redis_conn, tmp_path)

    ws.type(f"roll {OWN} quarterly", user=DAVE)

    assert f"approvers of this token: <!subteam^{GROUP}>" in ws.read(ws.request_message())


def test_other_tokens_keep_the_global_approvers(slack, redis_conn, tmp_path):
    ws = workspace(slack, redis_conn, tmp_path)

    ws.type(f"roll {OTHER} quarterly", user=DAVE)
    member_asked = ws.told(DAVE)
    ws.type(f"roll {OTHER} quarterly", user=APPROVER_A)
    message = ws.request_message()
    ws.click("approve", message, user=ERIN)
    member_approved = ws.told(ERIN)
    ws.click("approve", message, user=APPROVER_B)

    assert "only approvers can ask for a roll" in member_asked
    assert "only approvers can approve" in member_approved
    assert ws.queue.count == 1 and f"Approved by <@{APPROVER_B}>" in ws.read(message)


def test_with_approvals_2_two_distinct_members_besides_the_requester_are_needed(slack, redis_conn, tmp_path):
    ws = workspace(slack, redis_conn, tmp_path, approvals=2)
    ws.type(f"revoke {OWN} leaked in a CI log", user=DAVE)
    message = ws.request_message()

    ws.click("approve", message, user=ENGINEER)
    after_one = (ws.queue.count, ws.read(message))
    ws.click("approve", message, user=ENGINEER)
    twice = ws.told(ENGINEER)
    ws.click("approve", message, user=DAVE)
    own = ws.told(DAVE)
    ws.click("approve", message, user=APPROVER_A)
    outsider = ws.told(APPROVER_A)
    before_second = ws.queue.count
    ws.click("approve", message, user=ERIN)

    assert after_one[0] == 0 and "1 of 2 needed" in after_one[1]
    assert "your approval counts once" in twice and "you cannot approve it" in own
    assert "only approvers can approve" in outsider and before_second == 0
    assert ws.queue.count == 1
    assert f"<@{ENGINEER}>" in ws.read(message) and f"<@{ERIN}>" in ws.read(message)


def test_a_member_removed_from_the_group_cannot_approve_and_a_global_approver_cannot_deny(slack, redis_conn,
                                                                                          tmp_path):
    ws = workspace(slack, redis_conn, tmp_path)
    ws.type(f"roll {OWN} quarterly", user=DAVE)
    message = ws.request_message()

    slack.add_usergroup(GROUP, [DAVE, ERIN])  # Carol left the security team after the request was opened
    ws.click("approve", message, user=ENGINEER)
    removed = ws.told(ENGINEER)
    ws.click("deny", message, user=APPROVER_B)
    outsider = ws.told(APPROVER_B)

    assert "only approvers can approve" in removed and "only approvers can deny" in outsider
    assert ws.queue.count == 0 and "waiting for approval" in ws.read(message)


def test_help_shows_each_tokens_own_approvers(slack, redis_conn, tmp_path):
    ws = workspace(slack, redis_conn, tmp_path, approvals=2)

    ws.type("help", user=ENGINEER)

    assert f"`{OWN}`: <!subteam^{GROUP}>, 2 approvals besides the requester" in ws.told(ENGINEER)


def test_cftoken_check_names_an_approver_slack_does_not_know_and_a_token_that_cannot_be_approved(slack, tmp_path):
    inventory = inventory_with(tmp_path, 'approvers = ["S0NOSUCH", "U0NOBODY9"]')
    three_needed = inventory_with(tmp_path, f'approvers = ["{GROUP}"]\napprovals = 3')
    client = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token")
    settings = make_settings(cftoken_approvers=f"{APPROVER_A},U0GONE000")

    unknown = approvers_check(settings, inventory, client)
    too_few = approvers_check(make_settings(), three_needed, client)
    fine = approvers_check(make_settings(), inventory_with(tmp_path, f'approvers = ["{GROUP}"]\napprovals = 2'),
                           client)

    assert unknown == [
        "Slack knows no user U0GONE000 (users.info: user_not_found): check the ID (CFTOKEN_APPROVERS)",
        f"Slack knows no user group S0NOSUCH (usergroups.users.list: no_such_subteam): check the ID (the approvers "
        f"of {OWN})",
        f"Slack knows no user U0NOBODY9 (users.info: user_not_found): check the ID (the approvers of {OWN})",
    ]
    assert too_few == [f"{OWN} needs 3 approvals besides the requester, but its approvers are 3 people: no request "
                       "of it could ever be approved"]
    assert fine == []
