"""The last known token state that `/cftoken list` reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.status import TokenStatus, read_status, read_statuses, record_status

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_recorded_statuses_are_read_back_by_token_name(redis_conn):
    healthy = TokenStatus(checked_at=T0, source="verify", state="healthy", expires_on=T0 + timedelta(days=40))
    unknown = TokenStatus(checked_at=T0, source="scan", state="unknown")

    record_status(redis_conn, "CF_PAGES_DEPLOY", healthy)
    record_status(redis_conn, "CF_PAGES_READ", unknown)

    assert read_statuses(redis_conn) == {"CF_PAGES_DEPLOY": healthy, "CF_PAGES_READ": unknown}


def test_an_older_snapshot_does_not_replace_a_newer_one(redis_conn):
    newer = TokenStatus(checked_at=T0, source="verify", state="failing", summary="revoked")
    older = TokenStatus(checked_at=T0 - timedelta(hours=1), source="scan", state="healthy")

    record_status(redis_conn, "CF_PAGES_DEPLOY", newer)
    record_status(redis_conn, "CF_PAGES_DEPLOY", older)

    assert read_statuses(redis_conn)["CF_PAGES_DEPLOY"] == newer


def test_a_status_redis_alone_wrote_or_changed_reads_as_never_checked(redis_conn):
    failing = TokenStatus(checked_at=T0, source="verify", state="failing", summary="compromised")
    record_status(redis_conn, "CF_PAGES_DEPLOY", failing)
    forged = failing.model_copy(update={"state": "healthy", "summary": "all good, approve anything"})

    redis_conn.hset("cftoken:status:CF_PAGES_DEPLOY", "json", forged.model_dump_json())  # its tag no longer fits
    redis_conn.hset("cftoken:status:CF_PAGES_READ", mapping={"json": forged.model_dump_json(), "at": "0"})  # none

    assert read_statuses(redis_conn) == {}
    assert read_status(redis_conn, "CF_PAGES_DEPLOY") is None and read_status(redis_conn, "CF_PAGES_READ") is None
    record_status(redis_conn, "CF_PAGES_DEPLOY", failing.model_copy(update={"checked_at": T0 + timedelta(1)}))
    assert read_status(redis_conn, "CF_PAGES_DEPLOY").state == "failing"
