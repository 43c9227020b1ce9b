"""A world whose inventory reads Cloudflare's audit log: account_id, audit_token = the management token, and that
token granted Account Settings Read on the account (standins/cloudflare_audit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins import cloudflare_audit
from standins.world import ACCOUNT_ID, World, audit_inventory_text

GETRAXX = ("0bdcee38d1da2d021eb6166f0bd6204f", "getraxx.com")
RAXX_APP = ("f12dbb5cac57d5591a5058874498a6d1", "raxx.app")


def audit_inventory(directory: Path, *, audit_token: bool = True) -> Path:
    """The shipped inventory reading the audit log with the management token (or, `audit_token=False`, naming
    the account but no audit token)."""
    path = directory / "inventory-audit.toml"
    path.write_text(audit_inventory_text(DEFAULT_INVENTORY.read_text(), audit_token=audit_token))
    return path


@contextmanager
def audit_world(directory: Path, *, audit_token: bool = True) -> Iterator[tuple[World, Path]]:
    path = audit_inventory(directory, audit_token=audit_token)
    world = World.start(inventory=load_inventory(path))
    try:
        yield world, path
    finally:
        world.stop()


def seed_activity(world: World, name: str) -> dict[str, int]:
    """The token's writes of the last days: 12 DNS record updates on getraxx.com from two IPs, one WAF rule change
    on raxx.app, and one 40 days ago (outside CFTOKEN_AUDIT_DAYS); returns the IPs seeded in the window."""
    token_id, now = world.token_ids[name], world.clock.now()

    def seeded(ip: str, at: datetime, zone: tuple[str, str], kind: str) -> dict:
        return cloudflare_audit.seeded(token_id, name, at=at, ip=ip, account_id=ACCOUNT_ID, zone=zone,
                                       resource_type=kind)

    world.cloudflare.seed_audit(
        *(seeded("198.51.100.7", now - timedelta(days=5, hours=n), GETRAXX, "dns.record") for n in range(9)),
        *(seeded("203.0.113.50", now - timedelta(days=2, hours=n), GETRAXX, "dns.record") for n in range(3)),
        seeded("203.0.113.50", now - timedelta(days=1), RAXX_APP, "waf.rule"),
        seeded("192.0.2.99", now - timedelta(days=40), GETRAXX, "dns.record"))
    return {"198.51.100.7": 9, "203.0.113.50": 4}
