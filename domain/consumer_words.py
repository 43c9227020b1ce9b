"""The words a request's thread and message use for its consumers (pure: records in, mrkdwn and blocks out).
Infisical's own message and every configured name are escaped where shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.actions import CONSUMER_DONE, RETRY_SYNC
from domain.consumer_records import ConsumerRecord, HandEntry, SyncEntry
from domain.inventory import Token
from domain.messages import _button
from domain.mrkdwn import escape
from domain.timestamps import parse_timestamp


def _when(entry: SyncEntry, written_at: datetime) -> str:
    at = parse_timestamp(entry.at)
    if at is None:
        return ""
    seconds = max(0, round((at - written_at).total_seconds()))
    return f" at {at:%H:%M:%S} UTC ({seconds} s after the vault write)"


def _who(entry: SyncEntry) -> str:
    return f" for {escape(entry.consumer)}" if entry.consumer else " (also synced to: no consumer in the inventory)"


def sync_note(record: ConsumerRecord, entry: SyncEntry) -> str:
    """One destination's outcome, in the request's thread."""
    written = parse_timestamp(record.written_at)
    assert written is not None
    where = escape(entry.where)
    if entry.state == "succeeded":
        holds = "holds the REVOKED placeholder" if record.placeholder else "on the new value"
        return f"📦 {where}{_who(entry)}: {holds}{_when(entry, written)}."
    if entry.state == "failed":
        said = escape(entry.message or "no message")
        return (f"❌ {where}{_who(entry)}: the sync failed{_when(entry, written)}. Infisical says: “{said}”. "
                f"It still holds the {'deleted token' if record.placeholder else 'old'} value of {record.token}.")
    return (f"⚠️ {where}{_who(entry)}: no result in time (Infisical last said {entry.message or 'running'}); "
            "the bot stopped following it: look at the sync in Infisical.")


def failure_broadcast(record: ConsumerRecord, entry: SyncEntry) -> tuple[str, list[dict[str, Any]]]:
    """A failed sync, said once in the channel with a Retry sync button (any approver)."""
    text = f"{sync_note(record, entry)} Fix the destination, then retry."
    button = _button("Retry sync", RETRY_SYNC, f"{record.request_id}|{entry.id}")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "elements": [button]}]


def hand_note(record: ConsumerRecord, index: int, entry: HandEntry) -> tuple[str, list[dict[str, Any]]]:
    """A by-hand consumer's owner asked to confirm, with a Done button."""
    text = (f"✋ {entry.owner}: {escape(entry.who)} copies {record.token} by hand. Put the new value there from the "
            "vault, then press Done.")
    button = _button("Done", CONSUMER_DONE, f"{record.request_id}|{index}", style="primary")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "elements": [button]}]


def message_block(record: ConsumerRecord) -> dict[str, Any]:
    """The approval message's consumers line: 'consumers: 3 of 4 on the new value' until all are."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(record.line())}]}


def consumer_states(record: ConsumerRecord | None, token: Token) -> list[str]:
    """Each consumer's state after a revoke's placeholder (plain text, for the result and the incident): pushed,
    failed with Infisical's words, not known, or to be cleaned by hand by whom."""
    lines = []
    if record is not None and record.problem:
        lines.append(f"secret syncs not checked: {record.problem}")
    for entry in record.syncs if record is not None else []:
        who = f" ({entry.consumer})" if entry.consumer else ""
        if entry.state == "succeeded":
            lines.append(f"{entry.where}{who}: placeholder pushed at {entry.at}")
        elif entry.state == "failed":
            lines.append(f"{entry.where}{who}: FAILED, Infisical says: {entry.message or 'no message'}")
        else:
            lines.append(f"{entry.where}{who}: no result in time; check it in Infisical")
    synced = {entry.consumer for entry in record.syncs} if record is not None else set()
    for consumer in token.consumers:
        if consumer.who not in synced:
            by = consumer.owner or "its owner (none named in the inventory)"
            lines.append(f"{consumer.who}: to be cleaned by hand by {by}")
    return lines
