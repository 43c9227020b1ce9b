"""Checkpoints carry an integrity tag through every write; one changed by hand is refused when read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import RecordTampered
from workers.operations.checkpoints import Checkpoint

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ID = "roll-0123456789ab"
KEY = f"cftoken:op:{ID}"


def opened(conn) -> Checkpoint:
    return Checkpoint.open(conn, ID, action="roll", token="CF_WAF_EDIT_RAXX_APP", first="preflight", now=T0)


def test_every_write_keeps_the_checkpoint_readable(redis_conn):
    checkpoint = opened(redis_conn)
    checkpoint.save(now=T0, step="roll", token_id="abc123")
    checkpoint.save(now=T0, step="store", sealed=b"gAAAA-sealed")
    assert Checkpoint.load(redis_conn, ID).sealed() == b"gAAAA-sealed"
    checkpoint.save(now=T0, step="expiry", drop=("sealed",))
    checkpoint.save(now=T0, note="paused at the vault: 503")  # notes are not signed but keep the tag
    assert Checkpoint.load(redis_conn, ID).fields["token_id"] == "abc123"
    checkpoint.finish(now=T0)
    assert Checkpoint.load(redis_conn, ID).finished


@pytest.mark.parametrize(("field", "value"), [
    ("token_id", "the-management-token-id"), ("step", "store"), ("rolls", "3"), ("expires_on", "2099-01-01"),
    ("action", "revoke"), ("tag", "00" * 32),
])
def test_a_field_changed_by_hand_is_refused(redis_conn, field, value):
    opened(redis_conn).save(now=T0, step="roll", token_id="abc123", expires_on="2026-06-01")
    redis_conn.hset(KEY, field, value)

    with pytest.raises(RecordTampered, match=f"checkpoint of {ID} has an integrity tag that does not verify"):
        Checkpoint.load(redis_conn, ID)


def test_a_checkpoint_written_whole_by_hand_is_refused(redis_conn):
    redis_conn.hset(KEY, mapping={"action": "revoke", "token": "CF_ACCESS_MGMT", "step": "delete", "rev": "0"})

    with pytest.raises(RecordTampered, match="has no integrity tag") as refused:
        Checkpoint.load(redis_conn, ID)
    assert refused.value.token == "CF_ACCESS_MGMT"


def test_a_sealed_value_swapped_in_is_refused(redis_conn):
    opened(redis_conn).save(now=T0, step="store", sealed=b"gAAAA-ours")
    checkpoint = Checkpoint.load(redis_conn, ID)
    redis_conn.hset(KEY, "sealed", b"gAAAA-from-another-token")

    with pytest.raises(RecordTampered):
        checkpoint.sealed()
    with pytest.raises(RecordTampered):
        Checkpoint.load(redis_conn, ID)
