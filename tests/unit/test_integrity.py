"""Integrity tags: only a holder of CFTOKEN_SECRET_KEY can make a record verify; any change breaks the tag."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from domain import integrity
from domain.errors import RecordTampered, SettingsError
from standins.world import SECRET_KEY
from workers.operations.sealing import _fernet

KEY = integrity.derive_key(SecretStr("k" * 40))


def test_a_tag_verifies_only_its_own_kind_id_and_payload():
    tag = integrity.tag(KEY, "request", "roll-0123456789ab", b'{"state":"pending"}')
    assert integrity.verifies(KEY, "request", "roll-0123456789ab", b'{"state":"pending"}', tag)
    assert not integrity.verifies(KEY, "request", "roll-0123456789ab", b'{"state":"approved"}', tag)
    assert not integrity.verifies(KEY, "request", "roll-ba9876543210", b'{"state":"pending"}', tag)
    assert not integrity.verifies(KEY, "checkpoint", "roll-0123456789ab", b'{"state":"pending"}', tag)
    other = integrity.derive_key(SecretStr("j" * 40))
    assert not integrity.verifies(other, "request", "roll-0123456789ab", b'{"state":"pending"}', tag)
    assert not integrity.verifies(KEY, "request", "roll-0123456789ab", b'{"state":"pending"}', None)
    assert not integrity.verifies(KEY, "request", "roll-0123456789ab", b'{"state":"pending"}', "é" * 64)


def test_the_tagging_key_is_not_the_sealing_key():
    secret = SecretStr("k" * 40)
    sealing_key = _fernet(secret)._signing_key + _fernet(secret)._encryption_key
    assert integrity.derive_key(secret) != sealing_key
    assert integrity.derive_key(secret) not in (sealing_key[:32], sealing_key[32:])


def test_fields_payload_is_unambiguous_and_order_free():
    assert integrity.fields_payload({"a": "1", "b": "2"}) == integrity.fields_payload({"b": "2", "a": "1"})
    assert integrity.fields_payload({"a": "12", "b": ""}) != integrity.fields_payload({"a": "1", "b": "2"})
    assert integrity.fields_payload({"ab": "c"}) != integrity.fields_payload({"a": "bc"})


def test_check_names_the_record_and_why():
    with pytest.raises(RecordTampered, match="roll-0123456789ab has no integrity tag") as missing:
        integrity.check(KEY, "request", "roll-0123456789ab", b"{}", None)
    assert missing.value.record_id == "roll-0123456789ab"
    with pytest.raises(RecordTampered, match="does not verify"):
        integrity.check(KEY, "request", "roll-0123456789ab", b"{}", "00" * 32)


def test_without_a_key_nothing_is_signed():
    integrity.use_key(None)
    try:
        with pytest.raises(SettingsError, match="CFTOKEN_SECRET_KEY is not set"):
            integrity.process_key()
    finally:
        integrity.use_key(SecretStr(SECRET_KEY))
