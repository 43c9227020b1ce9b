"""The `cftoken` operator CLI: `check` validates configuration, `scan` enqueues an expiry scan, `reconcile`
resumes unfinished rotations now, `inventory import` drafts an inventory and `inventory diff` compares one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from domain.inventory import InventoryError, load_inventory
from domain.queueing import SCAN_JOB, job_queue
from domain.settings import Settings, SettingsError, load_settings


def check(settings: Settings) -> list[str]:
    """Problems with the settings and inventory, one line each; empty when all is well."""
    try:
        inventory = load_inventory(settings.cftoken_inventory)
    except InventoryError as exc:
        return [str(exc)]
    problems = []
    if inventory.vault.path != settings.infisical_secret_path:
        problems.append(
            f"INFISICAL_SECRET_PATH is {settings.infisical_secret_path} but the inventory says "
            f"{inventory.vault.path}: make them agree"
        )
    if inventory.vault.environment != settings.infisical_environment:
        problems.append(
            f"INFISICAL_ENVIRONMENT is {settings.infisical_environment} but the inventory says "
            f"{inventory.vault.environment}: make them agree"
        )
    if not settings.sandbox and settings.slack_signing_secret is None:
        problems.append("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified without it")
    for name in ("FREESCOUT_URL", "FREESCOUT_API_KEY", "FREESCOUT_MAILBOX_ID"):
        if getattr(settings, name.lower()) is None:
            problems.append(f"{name} is not set: /cftoken revoke will refuse to run")
    return problems


def _enqueue(settings: Settings, func: str, description: str) -> int:

    from domain.redis_conn import connect

    job = job_queue(connect(settings.redis_url)).enqueue(func)
    print(f"{description} enqueued as job {job.id}")
    return 0


def _reconcile(settings: Settings) -> int:
    from workers.reconcile import reconcile_now

    resumed = reconcile_now(settings)
    print(f"resumed {len(resumed)} unfinished operation(s){': ' + ', '.join(resumed) if resumed else ''}")
    return 0


def _inventory(settings: Settings, what: str, management: str) -> int:
    from domain.clock import utc_now
    from workers.inventory_import import diff_inventory, draft_inventory, read_sources

    if what == "import":
        sources = read_sources(settings, management)
        print(draft_inventory(sources, management=management, vault_path=settings.infisical_secret_path,
                              environment=settings.infisical_environment, now=utc_now()), end="")
        return 0
    try:
        inventory = load_inventory(settings.cftoken_inventory)
    except InventoryError as exc:
        print(f"cftoken: {exc}", file=sys.stderr)
        return 1
    lines = diff_inventory(inventory, read_sources(settings, inventory.management_token))
    print("\n".join(lines))
    return 1 if any(not line.endswith("same as at Cloudflare") for line in lines) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cftoken", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate settings and the token inventory")
    sub.add_parser("scan", help="enqueue an expiry scan now")
    sub.add_parser("reconcile", help="resume unfinished rotations and revocations now")
    inventory = sub.add_parser("inventory", help="draft an inventory from the vault and Cloudflare, or compare one")
    inventory.add_argument("what", choices=("import", "diff"),
                           help="import: print an inventory for what the vault and Cloudflare hold; "
                                "diff: how CFTOKEN_INVENTORY and Cloudflare differ, per token")
    inventory.add_argument("--management", default="CF_ACCESS_MGMT",
                           help="the management token's name in the vault (import; default CF_ACCESS_MGMT)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"cftoken: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        problems = check(settings)
        for problem in problems:
            print(f"cftoken: {problem}", file=sys.stderr)
        if not problems:
            print("cftoken: settings and inventory are valid")
        return 1 if problems else 0
    if args.command == "inventory":
        return _inventory(settings, args.what, args.management)
    if args.command == "scan":
        return _enqueue(settings, SCAN_JOB, "expiry scan")
    return _reconcile(settings)


if __name__ == "__main__":
    sys.exit(main())
