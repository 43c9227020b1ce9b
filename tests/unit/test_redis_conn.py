import ssl

from domain.redis_conn import connect, rq_url


def test_heroku_rediss_urls_skip_certificate_verification():
    client = connect("rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:6380/0")

    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] in ("none", ssl.CERT_NONE)


def test_plain_urls_are_left_alone_for_rq():
    assert rq_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert rq_url("rediss://h:6380/0") == "rediss://h:6380/0?ssl_cert_reqs=none"
    assert rq_url("rediss://h:6380/0?ssl_cert_reqs=required") == "rediss://h:6380/0?ssl_cert_reqs=required"
