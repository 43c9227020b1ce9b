"""`cftoken check`: every consumer's `sync` is a secret sync of the vault's own folder, and every `owner` is someone
Slack knows; what was resolved is listed, what was not is a problem naming it."""

from __future__ import annotations

from slack_sdk import WebClient

from domain.errors import CftokenError
from domain.inventory import Inventory, Token
from workers.cli.approvers_check import _resolve
from workers.clients.infisical import InfisicalClient
from workers.clients.infisical_syncs import SecretSync, SyncsClient


def consumers_check(inventory: Inventory, vault: InfisicalClient, slack: WebClient | None
                    ) -> tuple[list[str], list[str]]:
    """(what was resolved, one line each; the problems). Slack is None when its own check already failed."""
    named = [(token.name, consumer) for token in inventory.tokens for consumer in token.consumers]
    resolved: list[str] = []
    problems: list[str] = []
    if any(consumer.sync for _, consumer in named):
        try:
            syncs = SyncsClient(vault).project_syncs()
        except CftokenError as exc:
            return resolved, [f"Infisical: cannot list the project's secret syncs: {exc}"]
        lines, problems = _syncs(named, syncs, vault)
        resolved += lines
    owners = {consumer.owner_id: consumer.owner for _, consumer in named if consumer.owner_id}
    for owner, written in owners.items():
        if slack is None:
            break
        members, problem = _resolve(owner, slack)
        if problem:
            problems.append(f"consumer owner {written}: {problem}")
        else:
            resolved.append(f"consumer owner {written}: {len(members or ())} person(s) Slack knows")
    return resolved, problems


def _syncs(named: list, syncs: list[SecretSync], vault: InfisicalClient) -> tuple[list[str], list[str]]:
    folder = (vault.environment, vault.secret_path)
    lines, problems, used = [], [], set()
    for token, consumer in named:
        if not consumer.sync:
            continue
        found = next((sync for sync in syncs if sync.named(consumer.sync)), None)
        if found is None:
            known = ", ".join(sorted(sync.name for sync in syncs)) or "none"
            problems.append(f"{token}: the consumer {consumer.who} names the secret sync {consumer.sync!r}, which "
                            f"Infisical's project {vault.project_id} does not have (its syncs: {known}): fix `sync`")
            continue
        used.add(found.id)
        if (found.environment, found.path) != folder:
            source = f"{found.path} ({found.environment})" if found.path else "a deleted folder"
            problems.append(f"{token}: the secret sync {found.name} copies {source}, not the vault's folder "
                            f"{vault.secret_path} ({vault.environment}): it never carries {token}")
            continue
        auto = "auto-sync on" if found.auto_sync else "auto-sync off: the bot triggers it after each write"
        last = f"last run {found.status}" if found.status else "never run"
        lines.append(f"{token}: {consumer.who} ← {found.where}, {auto}, {last}")
    others = [sync.where for sync in syncs if (sync.environment, sync.path) == folder and sync.id not in used]
    if others:
        lines.append(f"the vault folder is also synced to {', '.join(others)} (no consumer names them)")
    return lines, problems


def folder_sync_lines(vault: InfisicalClient, token: Token) -> list[str]:
    """A dry run's view of the syncs a write of `token` would reach, each with its health now (read-only)."""
    try:
        syncs = SyncsClient(vault).folder_syncs()
    except CftokenError as exc:
        return [f"secret syncs not checked: {exc}"]
    lines = []
    for sync in syncs:
        feeds = next((c.who for c in token.consumers if c.sync and sync.named(c.sync)), None)
        who = f"feeds {feeds}" if feeds else "also synced to (no consumer in the inventory)"
        auto = "auto-sync on" if sync.auto_sync else "auto-sync off: the bot would trigger it"
        if sync.status == "failed":
            health = f"last run FAILED: {sync.message or 'no message'}"
        elif sync.status:
            at = f" {sync.synced_at:%Y-%m-%d %H:%M} UTC" if sync.synced_at and sync.status == "succeeded" else ""
            health = f"last run {sync.status}{at}"
        else:
            health = "never run"
        lines.append(f"secret sync {sync.where}: {who}; {auto}; {health}")
    return lines
