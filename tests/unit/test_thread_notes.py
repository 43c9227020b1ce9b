"""Who a request's thread mentions, and when: the approvers when it opens, the requester when it ends."""

from datetime import UTC, datetime, timedelta

from domain import thread_notes
from domain.requests import Approval, Request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def request(**changes) -> Request:
    values = dict(id="roll-0123456789ab", action="roll", token="CF_WAF_EDIT_RAXX_APP", requester="U0ALICE01",
                  reason="<!channel> quarterly", state="pending", needed=1, created_at=T0,
                  expires_at=T0 + timedelta(minutes=30), channel="C0SRE0001", updated_at=T0)
    return Request(**{**values, **changes})


def test_the_opening_reply_asks_the_group_or_the_other_listed_approvers_never_the_requester():
    by_group = thread_notes.opened(request(), ["S0SREAPPR"])
    by_people = thread_notes.opened(request(), ["U0ALICE01", "U0BOB0002"])

    assert by_group.startswith("🔔 <!subteam^S0SREAPPR>:")
    assert by_people.startswith("🔔 <@U0BOB0002>:") and "<@U0ALICE01> asks to roll" in by_people
    assert "&lt;!channel&gt;" in by_people and "<!channel>" not in by_people


def test_the_requester_is_mentioned_when_it_is_approved_denied_expired_and_at_the_result():
    approved = request(state="queued", approvals=[Approval(user="U0BOB0002", at=T0)])

    assert thread_notes.approved(approved).startswith("✅ <@U0ALICE01>: approved by <@U0BOB0002>;")
    assert "<@U0ALICE01>: denied by <@U0BOB0002>: “not now”" in thread_notes.denied(
        request(state="denied", denied_by="U0BOB0002", deny_reason="not now"))
    assert thread_notes.expired(request(state="expired")).startswith("⏰ <@U0ALICE01>, it expired")
    assert thread_notes.result(approved, ok=False, text="Roll of X stopped").endswith("cc <@U0ALICE01>")


def test_the_requester_is_never_named_as_an_approver_or_a_denier():
    approved = thread_notes.approved(request(state="queued", approvals=[Approval(user="U0BOB0002", at=T0)]))
    denied = thread_notes.denied(request(state="denied", denied_by="U0BOB0002"))

    assert "<@U0ALICE01>, " not in approved and "<@U0ALICE01>, " not in denied


def test_an_expired_revoke_says_to_ask_again_with_the_reason_a_revoke_needs():
    note = thread_notes.expired(request(action="revoke", state="expired"))

    assert "`/cftoken revoke CF_WAF_EDIT_RAXX_APP REASON`" in note
    assert "`/cftoken roll CF_WAF_EDIT_RAXX_APP`" in thread_notes.expired(request(state="expired"))
