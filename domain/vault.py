"""One reading of the vault folder (token values and companions) and what it says about a token, decided purely."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from domain.errors import NoTokenId, VaultSecretMissing
from domain.inventory import Token

REVOKED_PLACEHOLDER = "REVOKED"  # what a revoke leaves as the token's vault value: "REVOKED <when> by <request>"


@dataclass
class Vault:
    """One reading of the vault folder: token values and companions, as SecretStr."""

    values: dict[str, SecretStr]
    path: str
    environment: str

    def value(self, name: str) -> SecretStr:
        """A token value; a blank one counts as missing (it would only reach Cloudflare as 'Bearer ')."""
        value = self.values.get(name)
        if value is None or not value.get_secret_value().strip():
            raise VaultSecretMissing(name, self.path, self.environment)
        return value

    def revoked(self, name: str) -> bool:
        """True when the bot revoked the token and left its placeholder in the vault."""
        value = self.values.get(name)
        return value is not None and value.get_secret_value().startswith(REVOKED_PLACEHOLDER + " ")

    def text(self, name: str) -> str | None:
        """A companion's plain text (IDs, timestamps, scope strings are not secrets), or None."""
        value = self.values.get(name)
        return value.get_secret_value().strip() if value is not None else None


def known_token_id(token: Token, vault: Vault) -> str | None:
    """The Cloudflare id the bot acts on: the vault's __TOKEN_ID (the companion every roll, overlap and provision
    keeps current), else the inventory's `token_id` pin (a declaration that goes stale), else None."""
    return preferred_id(token, vault.text(token.companion("__TOKEN_ID")))


def preferred_id(token: Token, stored: str | None) -> str | None:
    """The one precedence every reader uses: the vault's __TOKEN_ID (`stored`) over the inventory's pin."""
    return stored or token.token_id or None


def token_id_of(token: Token, vault: Vault) -> str:
    """`known_token_id`, or NoTokenId naming both places it looked."""
    token_id = known_token_id(token, vault)
    if not token_id:
        raise NoTokenId(f"{token.name} has no token id in the inventory and no {token.name}__TOKEN_ID in the vault")
    return token_id


def pin_drift(token: Token, stored: str | None, actual: str | None = None) -> str | None:
    """When the inventory pins a token_id that differs from the vault's __TOKEN_ID (`stored`), what differs; None
    also when the vault's value belongs to the pinned token (`actual`): then __TOKEN_ID is the one to fix."""
    if not token.token_id or not stored or stored == token.token_id or actual == token.token_id:
        return None
    return (f"the inventory pins token_id = \"{token.token_id}\" but {token.name}__TOKEN_ID is {stored}; the bot "
            f"uses {stored}, the vault's")


def pin_fix(token: Token, stored: str) -> str:
    """The fix for a stale pin: the vault's __TOKEN_ID is what every roll, overlap and provision keeps current."""
    return f"remove token_id from {token.name} in the inventory, or update it to \"{stored}\""
