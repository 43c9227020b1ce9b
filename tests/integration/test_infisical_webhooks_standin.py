"""The Infisical stand-in sends secrets.modified as the real one does: a few seconds after a write to a folder a
hook's glob matches, the body's timestamp in the header, `t=<ms>;<hex HMAC-SHA256(secret key, raw body)>`; with no
secret key, no header; and it can be told to send unsigned, late or twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from standins.infisical import InfisicalStandIn
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver():
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            got.append(({k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_a_write_sends_a_signed_secrets_modified_to_matching_hooks_only(receiver):
    url, got = receiver
    infisical = InfisicalStandIn().start()
    try:
        infisical.webhooks.add(url, secret_key="k3y", project_id="p", environment="prod", secret_path="/infra/**",
                               delay=0.1)
        infisical.put_secret("p", "dev", "/infra/cf", "A", "1")  # another environment: no event
        infisical.put_secret("p", "prod", "/infra/cf", "A", "2")
        wait_until(lambda: got, what="the event")
    finally:
        infisical.stop()

    [(headers, body)] = got
    event = json.loads(body)
    assert event["event"] == "secrets.modified" and "changedBy" not in event["project"]
    assert event["project"] == {"workspaceId": "p", "projectId": "p", "projectName": "infra", "environment": "prod",
                                "secretPath": "/infra/cf"}
    stamp, signature = headers["x-infisical-signature"].split(";")
    assert stamp == f"t={event['timestamp']}"
    assert signature == hmac.new(b"k3y", body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("mode", "count", "signed"), [("unsigned", 1, False), ("twice", 2, True)])
def test_it_can_be_told_to_send_unsigned_or_twice(receiver, mode, count, signed):
    url, got = receiver
    infisical = InfisicalStandIn()
    hook = infisical.webhooks.add(url, secret_key="k3y", project_id="p", environment="prod", secret_path="/x")
    hook.mode = mode

    hook.send_now("prod", "/x")

    assert len(got) == count and all(("x-infisical-signature" in headers) == signed for headers, _ in got)
    assert len({body for _, body in got}) == 1
