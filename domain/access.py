"""Pure decisions on who may do what, and where; each refusal says why and what to do instead."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from domain.errors import Refused
from domain.inventory import Inventory, Token
from domain.settings import WebSettings

# The web holds no FreeScout credentials; the worker refuses to start with only some of the four set.
ACTION_SETTINGS = {"revoke": ("FREESCOUT_URL",)}


@dataclass(frozen=True)
class Origin:
    """Where a command or click came from (as its body says), or where ours must come from."""

    team_id: str | None
    enterprise_id: str | None
    app_id: str | None
    channel_id: str | None


def check_origin(seen: Origin, expected: Origin) -> None:
    """Only our own workspace, organisation and app count; then only the SRE channel (app id: when known)."""
    if not seen.team_id or seen.team_id != expected.team_id:
        raise Refused("This came from another Slack workspace than the one cftoken belongs to, so it was ignored.")
    if (seen.enterprise_id or None) != (expected.enterprise_id or None):
        raise Refused("This came from another Slack organisation than the one cftoken belongs to, so it was ignored.")
    if expected.app_id is not None and seen.app_id != expected.app_id:
        raise Refused("This was meant for another Slack app, not cftoken, so it was ignored.")
    check_channel(seen.channel_id or "", expected.channel_id or "")


def check_message(
    *, clicked_channel: str | None, clicked_ts: str | None, request_channel: str, request_ts: str | None
) -> None:
    """A button counts only on the request's own approval message (not a copy, nor another request's)."""
    if request_ts is None:  # posted, but its ts is recorded only once Slack's answer is read
        raise Refused("This request's message has only just been posted and the bot has not recorded it yet, so "
                      "the click was ignored: press the button again in a moment.")
    if (clicked_channel, clicked_ts) != (request_channel, request_ts):
        raise Refused(
            "That button is not on this request's own approval message, so the click was ignored. "
            "Use the buttons on the request's message in the channel."
        )


def check_channel(channel_id: str, sre_channel: str) -> None:
    """Commands are taken only in the SRE channel, where everyone can see what was asked."""
    if channel_id != sre_channel:
        raise Refused(f"Sorry, /cftoken works only in <#{sre_channel}>, so the team sees every request. Type it there.")


def approvers_for(token: Token | None, configured: Sequence[str]) -> tuple[str, ...]:
    """Who may ask for and approve a roll, revoke or provision of `token` (and answer its overlap): the token's own
    `approvers` when the inventory names them, else CFTOKEN_APPROVERS (`configured`)."""
    return token.approvers if token is not None and token.approvers else tuple(configured)


def approvals_for(token: Token | None, action: str, settings: WebSettings) -> int:
    """How many approvers besides the requester `action` on `token` needs: the token's `approvals`, else the
    setting for the action (CFTOKEN_ROLL_APPROVALS, …)."""
    if token is not None and token.approvals is not None:
        return token.approvals
    return settings.approvals_needed(action)


def check_requester(user_id: str, approvers: Collection[str], action: str) -> None:
    """Only approvers may ask for a destructive action."""
    if user_id not in approvers:
        raise Refused(
            f"Sorry, only approvers can ask for a {action}: {_people(approvers)}. "
            f"Ask one of them, or run `/cftoken verify NAME`, which anyone here can."
        )


def check_configured(settings: WebSettings, action: str) -> None:
    """A request the bot could not carry out with its current settings is refused when asked, not after approval."""
    missing = [name for name in ACTION_SETTINGS.get(action, ()) if getattr(settings, name.lower()) is None]
    if missing:
        raise Refused(
            f"Sorry, the bot cannot {action} tokens yet: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            f"not set, and a {action} needs {'it' if len(missing) == 1 else 'them'} (the incident ticket). "
            "Nothing was requested. Ask whoever runs the bot to set it (README 'Configuration'); "
            "`cftoken check` lists what is missing."
        )


def check_not_management(token: Token, inventory: Inventory, action: str) -> None:
    """The management token is rolled by an operator in the dashboard (runbook failure mode D), never by the bot."""
    if inventory.is_management(token):
        operator = {
            "roll": "roll it in the Cloudflare dashboard (https://dash.cloudflare.com/profile/api-tokens) and "
                    f"store the new value in the vault as `{token.name}`",
            "revoke": "put a replacement management token in the vault first, then revoke this one in the "
                      "Cloudflare dashboard (https://dash.cloudflare.com/profile/api-tokens)",
        }.get(action, "change it in the Cloudflare dashboard (https://dash.cloudflare.com/profile/api-tokens)")
        raise Refused(
            f"The bot cannot {action} `{token.name}`: it is the management token the bot itself uses to change "
            f"tokens, so a failed change would lock the bot out (runbook failure mode D). An operator must "
            f"{operator}. No request was opened."
        )


def check_approval(user_id: str, *, requester: str, approved_by: Collection[str], approvers: Collection[str]) -> None:
    """An approval counts only from an approver who is not the requester and has not approved already."""
    if user_id == requester:
        raise Refused("You asked for this, so you cannot approve it: another approver has to.")
    if user_id not in approvers:
        raise Refused(f"Sorry, only approvers can approve: {_people(approvers)}.")
    if user_id in approved_by:
        raise Refused("You have already approved this request; your approval counts once.")


def check_denial(user_id: str, *, requester: str, approvers: Collection[str]) -> None:
    """Any approver other than the requester may deny; the requester withdraws with Cancel."""
    if user_id == requester:
        raise Refused("This is your own request: press Cancel to withdraw it.")
    if user_id not in approvers:
        raise Refused(f"Sorry, only approvers can deny: {_people(approvers)}.")


def check_overlap_choice(user_id: str, approvers: Collection[str]) -> None:
    """Retire old now and Keep old end an approved overlap early: any approver may press them, nobody else."""
    if user_id not in approvers:
        raise Refused(f"Sorry, only approvers can end an overlap early (Retire old now, Keep old): "
                      f"{_people(approvers)}. Nothing changed; the old token is deleted at the deadline shown.")


def check_keep_old(user_id: str, *, requester: str) -> None:
    """Keep old extends a credential's life (the old token lives to its own expiry): like an approval, it needs an
    approver other than the one who asked for the roll."""
    if user_id == requester:
        raise Refused(f"Keep old keeps a second live token until its own expiry, so it needs an approver other than "
                      f"<@{requester}>, who asked for this roll. Nothing changed; another approver can press it, "
                      "or the old token is deleted at the deadline shown.")


def check_cancel(user_id: str, *, requester: str) -> None:
    """Only the requester may cancel; approvers who disagree press Deny."""
    if user_id != requester:
        raise Refused(f"Only <@{requester}>, who asked, can cancel this request. Approvers can press Deny.")


def _people(user_ids: Collection[str]) -> str:
    return ", ".join(f"<@{user}>" for user in sorted(user_ids)) or "nobody is configured"
