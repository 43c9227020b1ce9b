"""`cftoken check`: every approver the bot is configured with is someone Slack knows.

CFTOKEN_APPROVERS and each token's own `approvers` in the inventory: a user id `users.info` knows (and not
deactivated), a user group `usergroups.users.list` knows (and not empty); and a token that names its own approvers
or approvals can be approved at all (enough people besides the requester).
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from domain.access import approvals_for, approvers_for
from domain.inventory import Inventory
from domain.settings import Settings

ACTIONS = ("roll", "revoke", "provision")
UNKNOWN = ("no_such_subteam", "subteam_not_found", "user_not_found", "users_not_found")


def approvers_check(settings: Settings, inventory: Inventory, client: WebClient) -> list[str]:
    """One line per approver entry Slack does not know, naming where it is configured; one per token whose
    approvals cannot be met."""
    where: dict[str, list[str]] = {}
    for entry in settings.approvers:
        where.setdefault(entry, []).append("CFTOKEN_APPROVERS")
    for token in inventory.tokens:
        for entry in token.approvers:
            where.setdefault(entry, []).append(f"the approvers of {token.name}")
    members: dict[str, frozenset[str] | None] = {}
    problems = []
    for entry, places in where.items():
        members[entry], problem = _resolve(entry, client)
        if problem:
            problems.append(f"{problem} ({', '.join(places)})")
    for token in inventory.tokens:
        if not token.approvers and token.approvals is None:
            continue
        entries = approvers_for(token, settings.approvers)
        if any(members.get(entry) is None for entry in entries):
            continue  # already named above
        people = frozenset().union(*(members[entry] or frozenset() for entry in entries))
        needed = max(approvals_for(token, action, settings) for action in ACTIONS)
        if len(people) < needed + 1:
            problems.append(f"{token.name} needs {needed} approval{'s' if needed > 1 else ''} besides the requester, "
                            f"but its approvers are {len(people)} {'person' if len(people) == 1 else 'people'}: "
                            "no request of it could ever be approved")
    return problems


def _resolve(entry: str, client: WebClient) -> tuple[frozenset[str] | None, str | None]:
    """The people `entry` stands for (None when Slack did not say), and what is wrong with it, if anything."""
    group = entry.startswith("S")
    method = "usergroups.users.list" if group else "users.info"
    try:
        if group:
            users = frozenset(str(user) for user in client.usergroups_users_list(usergroup=entry)["users"])
            return users, None if users else f"the Slack user group {entry} has no members"
        user = client.users_info(user=entry)["user"]
        if user.get("deleted"):
            return frozenset(), f"the Slack user {entry} is deactivated"
        return frozenset({entry}), None
    except SlackApiError as exc:
        code = str(exc.response.get("error") or exc.response.status_code)
        if code in UNKNOWN:
            kind = "user group" if group else "user"
            return None, f"Slack knows no {kind} {entry} ({method}: {code}): check the ID"
        return None, f"Slack did not say who {entry} is ({method}: {code})"
    except OSError as exc:
        return None, f"Slack did not answer {method} for {entry} ({type(exc).__name__})"
