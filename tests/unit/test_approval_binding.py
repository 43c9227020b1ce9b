"""The pure decisions that bind an approval to its token (domain/approval_binding.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain import approval_binding
from domain.errors import RecordReplayed
from domain.requests import Approval, Request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD, NEW = "a" * 32, "b" * 32
SKEW = approval_binding.SKEW


def revoke(state: str = "running", token_id: str | None = None, owner: str = "user") -> Request:
    return Request(id="revoke-0123456789ab", action="revoke", token="CF_DNS_EDIT_GETRAXX_COM", requester="U0ALICE01",
                   reason="leaked", state=state, needed=1, approvals=[Approval(user="U0BOB0002", at=T0)],
                   created_at=T0 - timedelta(minutes=2), expires_at=T0 + timedelta(minutes=30), channel="C0SRE0001",
                   updated_at=T0, token_id=token_id, owner=owner)


@pytest.mark.parametrize("state", ["approved", "queued", "running"])
def test_a_request_that_allows_it_runs_any_step(state):
    approval_binding.check_runnable(revoke(state), "delete", settled={"ticket"})


@pytest.mark.parametrize("state", ["succeeded", "failed", "denied", "cancelled", "expired", "pending"])
def test_a_finished_requests_checkpoint_resumes_only_a_settled_step(state):
    approval_binding.check_runnable(revoke(state), "ticket", settled={"ticket"})
    with pytest.raises(RecordReplayed, match="a finished request's checkpoint is never resumed"):
        approval_binding.check_runnable(revoke(state), "delete", settled={"ticket"})


def test_the_token_the_vault_names_must_predate_the_approval():
    approval_binding.check_issued(revoke(), OLD, T0 - timedelta(days=90), skew=SKEW)
    approval_binding.check_issued(revoke(), OLD, T0 + SKEW, skew=SKEW)  # Cloudflare's clock a little ahead
    approval_binding.check_issued(revoke(), OLD, None, skew=SKEW)  # gone at Cloudflare: nothing to delete there
    with pytest.raises(RecordReplayed, match="after the request was approved"):
        approval_binding.check_issued(revoke(), NEW, T0 + timedelta(minutes=10), skew=SKEW)


def test_a_bound_request_acts_only_on_its_token():
    approval_binding.check_issued(revoke(token_id=OLD), OLD, T0 - timedelta(days=1), skew=SKEW)
    with pytest.raises(RecordReplayed, match=f"approved for token {OLD}, and the vault now names {NEW}"):
        approval_binding.check_issued(revoke(token_id=OLD), NEW, T0 - timedelta(days=1), skew=SKEW)
    approval_binding.check_bound(revoke(token_id=OLD), {OLD}, OLD)
    with pytest.raises(RecordReplayed, match="the vault now names"):
        approval_binding.check_bound(revoke(token_id=OLD), {OLD}, NEW)
    with pytest.raises(RecordReplayed, match="its checkpoint names"):
        approval_binding.check_bound(revoke(token_id=OLD), {NEW}, NEW)


def test_a_record_from_before_the_binding_is_checked_against_the_vault():
    approval_binding.check_bound(revoke(token_id=None), {OLD}, OLD)
    approval_binding.check_bound(revoke(token_id=None), {OLD}, None)  # no id in the vault: nothing to compare
    with pytest.raises(RecordReplayed):
        approval_binding.check_bound(revoke(token_id=None), {OLD}, NEW)


def test_the_owner_kind_is_the_approved_one():
    approval_binding.check_owner(revoke(owner="user"), "user")
    with pytest.raises(RecordReplayed, match="user-owned token"):
        approval_binding.check_owner(revoke(owner="user"), "account")
