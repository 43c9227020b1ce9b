from datetime import timedelta

from domain.clock import make_clock, utc_now


def test_without_an_offset_key_the_clock_is_plain_utc(redis_conn):
    clock = make_clock(redis_conn, None)

    assert clock is utc_now


def test_the_sandbox_offset_moves_every_reader_of_the_key(redis_conn):
    clock = make_clock(redis_conn, "cftoken:sandbox:clock-offset")
    before = clock()

    redis_conn.incrbyfloat("cftoken:sandbox:clock-offset", timedelta(days=10).total_seconds())

    assert timedelta(days=10) <= clock() - before < timedelta(days=10, seconds=5)
