"""Sequential round trips on an operation's critical path, from the stand-ins' own request times, and the floors.

Requests that overlap in time are one round trip: the count is the longest chain of requests each of which started
after the one before it had its answer (earliest-answered first finds it). A Slack update running beside the
operation only ever stands in for a call of the chain, never adds to it, so the outbox's side traffic does not
inflate the count.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.processes import Hit

# The fewest sequential round trips each operation needs, result post included, and why (docs/performance.md).
FLOORS: dict[str, tuple[int, str]] = {
    "verify": (4, "the vault read (the management token and the token's id are in it); the token's record (read "
                  "before the check uses the value, so its last_used_on is someone else's use) beside the name "
                  "listing and the audit log; verify beside the probe (they need only the value); the post"),
    "roll": (6, "the vault read; the token record (needs the management value); the roll; storing the value, "
                "extending the expiry and verifying the new value (independent); __EXPIRES_AT once Cloudflare has "
                "the expiry; the post"),
    "overlap": (5, "the vault read; the old token's record and the quota listing; creating the twin; storing its "
                   "value with its companions beside verifying and probing it; the post"),
    "revoke": (5, "the vault read; finding the token at Cloudflare; the DELETE; the vault's placeholder beside the "
                  "ticket (names cached); the post (the ticket's tags beside it)"),
    "provision": (5, "the vault read; the name and quota listing; creating the token; storing its value and "
                     "companions beside verifying and probing it; the post"),
}


def sequential(hits: Iterable[Hit]) -> int:
    """The longest chain of requests that did not overlap in time."""
    count, free_at = 0, float("-inf")
    for hit in sorted(hits, key=lambda h: h.answered):
        if hit.arrived >= free_at:
            count, free_at = count + 1, hit.answered
    return count
