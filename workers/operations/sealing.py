"""Encrypt a new token value for the short time it is held outside the vault (between roll and store)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from domain.errors import SealBroken


def _fernet(key: SecretStr) -> Fernet:
    digest = hashlib.sha256(b"cftoken-seal-v1:" + key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(value: SecretStr, key: SecretStr) -> bytes:
    """Authenticated ciphertext of `value` under a key derived from CFTOKEN_SECRET_KEY."""
    return _fernet(key).encrypt(value.get_secret_value().encode())


def unseal(sealed: bytes, key: SecretStr, previous: SecretStr | None = None) -> SecretStr:
    """The value sealed by `seal` under `key`, or under `previous` (CFTOKEN_SECRET_KEY_PREVIOUS, while the key is
    being changed); SealBroken if neither opens it or the bytes were altered."""
    keys = [_fernet(key)] + ([_fernet(previous)] if previous is not None else [])
    try:
        return SecretStr(MultiFernet(keys).decrypt(sealed).decode())
    except InvalidToken:
        raise SealBroken("the sealed token value could not be decrypted") from None


def unseal_or_none(
    sealed: bytes | None, key: SecretStr, previous: SecretStr | None = None
) -> SecretStr | None:
    """The value a checkpoint holds sealed; None when it holds none or the seal no longer opens (key changed)."""
    if not sealed:
        return None
    try:
        return unseal(sealed, key, previous)
    except SealBroken:
        return None
