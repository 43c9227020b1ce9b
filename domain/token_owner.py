"""Who owns a Cloudflare API token, and so where its endpoints are: `/user/tokens…` for a user token,
`/accounts/{account_id}/tokens…` for an account-owned one (api-contracts.md "Account-owned tokens").

The Cloudflare client takes one TokenOwner and builds every token path from it; nothing above the client asks
which kind a token is except to say it to a person. `verify_order` is the pure rule for which verify endpoint
a value is tried at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

Kind = Literal["user", "account"]
USER_PREFIX, ACCOUNT_PREFIX = "cfut_", "cfat_"
QUOTA = {"user": 50, "account": 500}  # Cloudflare's token quotas: 50 per user, 500 per account
WRITE_PERMISSION = {"user": "API Tokens Write", "account": "Account API Tokens Write"}


@dataclass(frozen=True)
class TokenOwner:
    """A token's owner: the user of the management token, or one account (its 32-hex id)."""

    kind: Kind = "user"
    account_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "account" and not self.account_id:
            raise ValueError("an account-owned token needs the account id")

    @property
    def tokens_path(self) -> str:
        """The collection: list (GET) and create (POST)."""
        return "/user/tokens" if self.kind == "user" else f"/accounts/{quote(self.account_id or '', safe='')}/tokens"

    def token_path(self, token_id: str) -> str:
        """One token: get, update (PUT), delete; + "/value" rolls it."""
        return f"{self.tokens_path}/{quote(token_id, safe='')}"

    @property
    def label(self) -> str:
        """The kind as a person reads it."""
        return "user token" if self.kind == "user" else "account-owned token"

    @property
    def quota(self) -> int:
        return QUOTA[self.kind]

    @property
    def write_permission(self) -> str:
        """The permission group a management token needs to mint, roll and revoke tokens of this kind."""
        return WRITE_PERMISSION[self.kind]


USER = TokenOwner()


def verify_order(value: str, declared: TokenOwner, account_id: str | None) -> tuple[TokenOwner, ...]:
    """The verify endpoints to try for `value`, in order: its prefix decides (cfat_ account, cfut_ user); a legacy
    value says nothing of its kind, so the declared owner first and then, on 401 code 1000, the other once (only
    when the account is known)."""
    account = TokenOwner("account", account_id) if account_id else None
    if value.startswith(ACCOUNT_PREFIX) and account is not None:
        return (account,)
    if value.startswith(USER_PREFIX):
        return (USER,)
    other = USER if declared.kind == "account" else account
    return (declared,) if other is None else (declared, other)


def prefix_kind(value: str) -> Kind | None:
    """The kind a scannable value names (cfat_ account, cfut_ user); None for a legacy value."""
    if value.startswith(ACCOUNT_PREFIX):
        return "account"
    return "user" if value.startswith(USER_PREFIX) else None


def kind_mismatch(name: str, declared: Kind, found: Kind | None) -> tuple[str, str] | None:
    """(detail, next step) when the vault's value is a token of the other kind than the inventory declares
    (proven by its prefix or by the verify endpoint that accepted it); None when they agree or it is unknown."""
    if found is None or found == declared:
        return None
    if found == "account":
        return (f"{name} is an account-owned token; set `owner = \"account\"` (its value belongs at "
                "/accounts/{account_id}/tokens, but the inventory declares a user token, so the bot looks for it "
                "at /user/tokens)",
                f"Edit the inventory: add `owner = \"account\"` to {name} (and the top-level `account_id` if it is "
                "not there), then `/cftoken verify` again. The token itself is not invalid: do not roll it.")
    return (f"{name} is a user token; set `owner = \"user\"` (its value belongs at /user/tokens, but the inventory "
            "declares an account-owned token)",
            f"Edit the inventory: remove `owner = \"account\"` from {name}, then `/cftoken verify` again. The token "
            "itself is not invalid: do not roll it.")
