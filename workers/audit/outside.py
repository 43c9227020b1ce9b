"""Changes to inventory tokens made outside the bot, found in Cloudflare's audit log by the scan: a roll, an edit, a
delete, or a create under an inventory name whose actor is not the bot's management token. Each is posted once
(the outbox key is the audit entry's id) with what it means for the vault, and counted for /metrics.

The scan reads from where the previous scan stopped (less ten minutes, for entries Cloudflare records late; an entry
already posted is not posted again), and never fails the scan: a log it cannot read is logged and skipped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from domain import metrics, outbox, token_activity
from domain.errors import CftokenError
from domain.timestamps import parse_timestamp
from domain.vault import Vault, known_token_id
from workers.audit import reading
from workers.services import Services

log = logging.getLogger(__name__)
WATERMARK = "cftoken:audit:outside:since"
FIRST_LOOK = timedelta(days=1)
LATE = timedelta(minutes=10)


def managers(services: Services, vault: Vault) -> set[str]:
    """The Cloudflare ids of the tokens the bot makes its changes with."""
    inventory = services.inventory
    names = {inventory.management_token, inventory.account_management_token} - {None}
    tokens = [inventory.find(name) for name in names if name]
    return {token_id for token in tokens if token and (token_id := known_token_id(token, vault))}


def report(services: Services, vault: Vault) -> list[token_activity.TokenChange]:
    """Post each change made outside the bot since the last scan, once; the changes found (for the scan's report)."""
    inventory = services.inventory
    if inventory.account_id is None or inventory.audit_token is None:
        return []
    now = services.now()
    since = parse_timestamp((services.redis.get(WATERMARK) or b"").decode()) or now - FIRST_LOOK
    bot = managers(services, vault)
    try:
        read = reading.read(services, vault, since=since, filters={
            "action_type.not": ["view"], **({"actor_token_id.not": sorted(bot)} if bot else {})})
    except CftokenError as exc:
        log.warning("scan: Cloudflare's audit log could not be read for outside changes: %s", exc)
        return []
    names_by_id = {token_id: token.name for token in inventory.tokens
                   if (token_id := known_token_id(token, vault))}
    found = token_activity.outside_changes(read.entries, names_by_id, inventory.names, bot)
    posted = [change for change in found if _post_once(services, change, now)]
    if posted:
        metrics.count_audit(services.redis, "outside_changes", "cloudflare", len(posted))
    services.redis.set(WATERMARK, (now - LATE).isoformat())
    return posted


def _post_once(services: Services, change: token_activity.TokenChange, now: datetime) -> bool:
    return outbox.post(services.redis, f"outside:{change.entry.id}", token_activity.outside_alert(change), None,
                       now=now)
