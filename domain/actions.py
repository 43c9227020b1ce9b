"""The ids both sides must agree on: what the worker draws (buttons' action ids, block ids, a modal's callback id) and
the web's listeners answer. One place, so a renamed button cannot leave its listener behind.
"""

from __future__ import annotations

# the approval message
APPROVE = "approve"
DENY = "deny"
CANCEL = "cancel"
DENY_VIEW = "deny_reason"  # callback_id of the modal that asks a denier why
DENY_REASON = "reason"  # block_id and action_id of its text input
OVERLAP_RETIRE_NOW = "overlap_retire_now"  # on a waiting overlap roll: delete the old token now
OVERLAP_KEEP_OLD = "overlap_keep_old"  # on a waiting overlap roll: end the overlap leaving both tokens live

# buttons that open a request or queue a verify
REQUEST_ROLL = "request_roll"  # an expiry warning's or a scan alert's Request roll
REQUEST_REROLL = "request_reroll"  # the button that asks for a roll after an operation was cut short
ROLL_AFTER_VERIFY = "roll_after_verify"  # Request roll on a verify report that found a problem
REQUEST_REVOKE = "request_revoke"  # the scan alert's button for a compromised token
VERIFY_AGAIN = "request_verify"  # Verify (again) on a report or an alert: queues verify NAME for the clicker
REQUEST_REAL = "request_real"  # the button on a dry run: opens the real request, as the command would
PROVISION_REPLACEMENT = "provision_replacement"  # a finished revoke's Provision replacement

ALERT_BLOCK = "alert:"  # block_id prefix of a scan alert's section: `alert:<token>:<problem kind>`


def alert_block_id(token: str, kind: str) -> str:
    return f"{ALERT_BLOCK}{token}:{kind}"


def alert_kind(block_id: str) -> str | None:
    return block_id.rsplit(":", 1)[-1] if block_id.startswith(ALERT_BLOCK) else None

# consumers on the new value (workers/consumers/)
RETRY_SYNC = "retry_sync"  # a failed sync's broadcast: any approver triggers it again; value `<request>|<sync>`
CONSUMER_DONE = "consumer_done"  # a by-hand consumer's owner confirms it has the new value; value `<request>|<index>`
