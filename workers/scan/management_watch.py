"""Failure mode D, told by the scan itself: when the management token cannot list Cloudflare's tokens (refused, or
not valid: expired, disabled, deleted), the channel hears it once, with the runbook's step, and once when it works
again. Nobody has to run verify to find out that the bot cannot change anything.

    cftoken:scan:management-down   the outbox key of the alert posted for the failure in progress (absent: none)
"""

from __future__ import annotations

from domain import outbox
from domain.errors import CftokenError, ManagementTokenInvalid, NotAuthorized
from domain.health import DASHBOARD
from domain.mrkdwn import escape
from workers.services import Services

DOWN = "cftoken:scan:management-down"


def note(services: Services, error: CftokenError | None) -> None:
    """After the scan's list call: `error` is what Cloudflare answered (None: the list was read)."""
    name, now = services.inventory.management_token, services.now()
    told = services.redis.get(DOWN)
    if isinstance(error, NotAuthorized | ManagementTokenInvalid) and told is None:
        key = f"management-down:{now:%Y%m%dT%H%M%S}"
        text = (f":rotating_light: The management token {name} cannot list API tokens at Cloudflare: "
                f"{escape(str(error))}. Until an operator fixes it the bot cannot check, roll, revoke or provision "
                f"anything.\nNext step: Failure mode D: escalate to an operator; rotate {name} in the dashboard "
                f"({DASHBOARD}) with API Tokens Write, and put its value in the vault. The bot cannot roll it.")
        with services.redis.pipeline(transaction=True) as pipe:
            outbox.post_in(pipe, key, text, None, group="management", now=now)
            pipe.set(DOWN, key)
            pipe.execute()
    elif error is None and told is not None:
        with services.redis.pipeline(transaction=True) as pipe:
            outbox.post_in(pipe, f"{told.decode()}:fixed", f":white_check_mark: The management token {name} lists "
                           "API tokens at Cloudflare again: the bot can check and change tokens.", None,
                           group="management", now=now)
            pipe.delete(DOWN)
            pipe.execute()
