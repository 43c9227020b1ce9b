"""The fixture pair every Cloudflare contract test module uses: one stand-in server per module, reset for each test
with the zones that module names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from standins.base import Clock
from standins.cloudflare import CloudflareStandIn


def standin_fixtures(zones: Mapping[str, str] | None = None):
    """`server, standin = standin_fixtures({"raxx.app": ZONE_ID})` at a test module's top level."""

    @pytest.fixture(scope="module")
    def server() -> Iterator[CloudflareStandIn]:
        """One running server for the module."""
        running = CloudflareStandIn(Clock()).start()
        yield running
        running.stop()

    @pytest.fixture
    def standin(server: CloudflareStandIn) -> CloudflareStandIn:
        """The module's server, reset, with the module's zones."""
        server.reset()
        for name, zone_id in (zones or {}).items():
            server.add_zone(name, zone_id)  # in the seeded world's account
        return server

    return server, standin
