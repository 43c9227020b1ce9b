"""Who may do what, and where: the pure decisions behind every refusal."""

from __future__ import annotations

import pytest

from domain.access import (
    Refused,
    approvals_for,
    approvers_for,
    check_approval,
    check_cancel,
    check_channel,
    check_denial,
    check_message,
    check_not_management,
    check_requester,
)
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL, make_settings

INVENTORY = load_inventory(DEFAULT_INVENTORY)
APPROVERS = frozenset({APPROVER_A, APPROVER_B})


def test_commands_are_taken_in_the_sre_channel():
    check_channel(TEST_CHANNEL, TEST_CHANNEL)


def test_commands_elsewhere_are_refused_with_the_channel_to_use():
    with pytest.raises(Refused, match=f"only in <#{TEST_CHANNEL}>"):
        check_channel("C0RANDOM1", TEST_CHANNEL)


def test_an_approver_may_ask_for_a_roll():
    check_requester(APPROVER_A, APPROVERS, "roll")


def test_a_non_approver_asking_for_a_revoke_is_pointed_at_the_approvers():
    with pytest.raises(Refused) as refused:
        check_requester(ENGINEER, APPROVERS, "revoke")

    assert "only approvers can ask for a revoke" in str(refused.value)
    assert f"<@{APPROVER_A}>" in str(refused.value) and f"<@{APPROVER_B}>" in str(refused.value)


@pytest.mark.parametrize("action", ["roll", "revoke"])
def test_the_management_token_is_never_changed_by_the_bot(action):
    with pytest.raises(Refused) as refused:
        check_not_management(INVENTORY.management, INVENTORY, action)

    assert "failure mode D" in str(refused.value)
    assert "dashboard" in str(refused.value)


def test_other_tokens_may_be_rolled():
    check_not_management(INVENTORY.find("CF_PAGES_DEPLOY"), INVENTORY, "roll")


@pytest.mark.parametrize(
    ("user", "approved_by", "why"),
    [
        (APPROVER_A, [], "You asked for this, so you cannot approve it"),
        (ENGINEER, [], "only approvers can approve"),
        (APPROVER_B, [APPROVER_B], "already approved"),
    ],
)
def test_approval_refusals(user, approved_by, why):
    with pytest.raises(Refused, match=why):
        check_approval(user, requester=APPROVER_A, approved_by=approved_by, approvers=APPROVERS)


def test_another_approver_may_approve():
    check_approval(APPROVER_B, requester=APPROVER_A, approved_by=[], approvers=APPROVERS)


@pytest.mark.parametrize(("user", "why"), [(APPROVER_A, "press Cancel"), (ENGINEER, "only approvers can deny")])
def test_denial_refusals(user, why):
    with pytest.raises(Refused, match=why):
        check_denial(user, requester=APPROVER_A, approvers=APPROVERS)


def test_only_the_requester_may_cancel():
    check_cancel(APPROVER_A, requester=APPROVER_A)
    with pytest.raises(Refused, match=f"Only <@{APPROVER_A}>, who asked, can cancel"):
        check_cancel(APPROVER_B, requester=APPROVER_A)


def test_a_click_before_the_bot_recorded_its_message_is_told_to_press_again_not_that_it_is_a_copy():
    with pytest.raises(Refused, match="press the button again in a moment"):
        check_message(clicked_channel=TEST_CHANNEL, clicked_ts="1.2", request_channel=TEST_CHANNEL, request_ts=None)
    with pytest.raises(Refused, match="not on this request's own approval message"):
        check_message(clicked_channel=TEST_CHANNEL, clicked_ts="1.2", request_channel=TEST_CHANNEL, request_ts="1.3")


def test_a_tokens_own_approvers_and_approvals_replace_the_global_ones():
    own = INVENTORY.find("CF_PAGES_DEPLOY").model_copy(update={"approvers": ("S0SECURITY",), "approvals": 2})
    plain = INVENTORY.find("CF_PAGES_READ")
    settings = make_settings(cftoken_revoke_approvals=3)

    assert approvers_for(own, settings.approvers) == ("S0SECURITY",)
    assert approvers_for(plain, settings.approvers) == approvers_for(None, settings.approvers) == settings.approvers
    assert [approvals_for(own, action, settings) for action in ("roll", "revoke", "provision")] == [2, 2, 2]
    assert [approvals_for(plain, action, settings) for action in ("roll", "revoke", "provision")] == [1, 3, 1]
