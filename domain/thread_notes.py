"""What a request's thread says, and whom it mentions: approvers when it opens, the requester when it ends.

The request's own message shows its state (redrawn in place); these notes are its story, posted as replies.
Pure: a Request (and the configured approvers) in, mrkdwn text out.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.messages import escape, slack_date
from domain.requests import Request


def mention(entry: str) -> str:
    """A Slack mention of a user id (U…/W…) or a user group id (S…)."""
    return f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>"


def opened(request: Request, approvers: Iterable[str]) -> str:
    """The first reply: the approvers are asked (the requester is never asked to approve their own request)."""
    asked = ", ".join(mention(entry) for entry in approvers if entry != request.requester)
    reason = f" Reason: {escape(request.reason)}." if request.reason else ""
    return (
        f"🔔 {asked}: <@{request.requester}> asks to {request.action} *{request.token}*.{reason} "
        "Approve or deny it on the message above."
    )


def approved(request: Request) -> str:
    by = ", ".join(f"<@{user}>" for user in request.approved_by)
    return f"✅ <@{request.requester}>: approved by {by}; it is queued for a worker."


def denied(request: Request) -> str:
    why = f": “{escape(request.deny_reason)}”" if request.deny_reason else ""
    return f"⛔ <@{request.requester}>: denied by <@{request.denied_by}>{why}. Nothing was done."


def cancelled(request: Request) -> str:
    return f"✖️ <@{request.requester}> cancelled it. Nothing was done."


def expired(request: Request) -> str:
    reason = " REASON" if request.action == "revoke" else ""  # a revoke without one is refused
    return (
        f"⏰ <@{request.requester}>, it expired without enough approvals. Nothing was done; ask again "
        f"with `/cftoken {request.action} {request.token}{reason}`."
    )


def overlap_chosen(request: Request) -> str:
    """An approver ended a waiting overlap early: who pressed which button, and what the bot does now."""
    by = f"<@{request.overlap_end_by}>"
    deadline = f" instead of at {slack_date(request.retire_at)}" if request.retire_at else ""
    if request.overlap_end == "retire_now":
        return f"🗑️ {by} pressed *Retire old now*: the bot deletes the old token now{deadline}."
    return f"🔁 {by} pressed *Keep old*: the bot ends the overlap leaving the old token live{deadline}."


def step(label: str) -> str:
    """A progress note from the worker."""
    return f"⚙️ {label}"


def result(request: Request, *, ok: bool, text: str) -> str:
    """The outcome, ending with the requester's mention."""
    return f"{'✅' if ok else '❌'} {text}\ncc <@{request.requester}>"


def unclaimed(request: Request, minutes: int) -> str:
    return (
        f"⏳ No worker has started this {request.action} in {minutes} minute"
        f"{'' if minutes == 1 else 's'}: the worker process is down or busy with a long job. It stays queued and "
        "runs as soon as a worker is free."
    )
