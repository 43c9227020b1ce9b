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


def token_id_of(token: Token, vault: Vault) -> str:
    """The Cloudflare id: the inventory's, else the vault's __TOKEN_ID companion (first for an overlap token, whose
    rotation changes its id)."""
    stored = vault.text(token.companion("__TOKEN_ID"))
    token_id = (stored or token.token_id) if token.rotation == "overlap" else (token.token_id or stored)
    if not token_id:
        raise NoTokenId(f"{token.name} has no token id in the inventory and no {token.name}__TOKEN_ID in the vault")
    return token_id
