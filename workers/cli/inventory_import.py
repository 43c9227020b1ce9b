"""`cftoken inventory import` and `cftoken inventory diff`: an inventory drafted from what the vault folder and
Cloudflare hold, and how a written inventory differs from Cloudflare (the same comparison verify makes).

The drafting is pure (`draft_inventory`: readings in, TOML text out, a comment wherever it had to guess);
`read_sources` is the thin I/O edge: one vault listing and, with the management token, Cloudflare's tokens,
permission groups and visible zones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from domain.cloudflare_tokens import CfToken, PermissionGroup, Policy, Zone
from domain.errors import CftokenError
from domain.grants import permission_differences, zone_differences
from domain.inventory import COMPANIONS, Inventory
from domain.provision_plan import ACCOUNT_RESOURCE, ACCOUNT_SCOPE, ALL_ZONES_RESOURCE, ZONE_RESOURCE, ZONE_SCOPE
from domain.settings import SourceSettings
from domain.token_owner import TokenOwner
from domain.vault import REVOKED_PLACEHOLDER, preferred_id
from workers.clients.cloudflare import CloudflareClient
from workers.clients.infisical import InfisicalClient

USUAL_CADENCES = (30, 60, 90, 180, 365)
DEFAULT_CADENCE = 90  # the runbook's
ACCOUNT_KEY_LENGTH = len(ACCOUNT_RESOURCE) + 32


@dataclass(frozen=True)
class Sources:
    """What import and diff read: vault companions' plain text (never a token value) and Cloudflare's records."""

    names: tuple[str, ...]  # token names in the vault folder (values or companions), in listing order
    companions: dict[str, str]  # companion key -> its plain text (ids, timestamps, scope strings)
    revoked: frozenset[str]  # names whose vault value is the bot's REVOKED placeholder
    tokens: tuple[CfToken, ...]
    groups: tuple[PermissionGroup, ...]
    zones: tuple[Zone, ...]
    account_owned: frozenset[str] = frozenset()  # ids of the tokens found in the account's own list
    account_note: str = ""  # why the account's tokens could not be listed, if they could not


def read_sources(settings: SourceSettings, management: str) -> Sources:
    """One vault listing, then Cloudflare's tokens, groups and zones with the management token found there."""
    with InfisicalClient(base_url=settings.infisical_api_url, client_id=settings.infisical_client_id,
                         client_secret=settings.infisical_client_secret, project_id=settings.infisical_project_id,
                         environment=settings.infisical_environment,
                         secret_path=settings.infisical_secret_path) as infisical:
        folder = infisical.list_folder()
    value = folder.get(management)
    if value is None:
        raise SystemExit(f"cftoken: the management token {management} is not in the vault at "
                         f"{settings.infisical_secret_path} ({settings.infisical_environment}); pass --management NAME")
    with CloudflareClient(base_url=settings.cloudflare_api_url, management_token=value) as cloudflare:
        tokens, groups, zones = cloudflare.list_tokens(), cloudflare.permission_groups(), cloudflare.list_zones()
    owned, note = _account_tokens(settings, value, zones)
    return Sources(
        names=tuple(dict.fromkeys(_base_name(key) for key in folder)),
        companions={key: _text(secret) for key, secret in folder.items() if _base_name(key) != key},
        revoked=frozenset(key for key, secret in folder.items()
                          if secret.get_secret_value().startswith(REVOKED_PLACEHOLDER + " ")),
        tokens=(*tokens, *owned), groups=tuple(groups), zones=tuple(zones),
        account_owned=frozenset(token.id for token in owned), account_note=note,
    )


def _account_tokens(settings: SourceSettings, value: SecretStr, zones: list[Zone]) -> tuple[list[CfToken], str]:
    """The account-owned tokens of the zones' one account (the vault's __TOKEN_IDs find them among these), or why
    they could not be listed."""
    accounts = {zone.account.id for zone in zones if zone.account}
    if len(accounts) != 1:
        return [], "" if not accounts else "several accounts: account-owned tokens were not looked for"
    owner = TokenOwner("account", next(iter(accounts)))
    try:
        with CloudflareClient(base_url=settings.cloudflare_api_url, management_token=value, owner=owner) as cloudflare:
            return cloudflare.list_tokens(), ""
    except CftokenError as exc:
        return [], f"account-owned tokens of account {owner.account_id} could not be listed: {exc}"


def draft_inventory(sources: Sources, *, management: str, vault_path: str, environment: str, now: datetime) -> str:
    """An inventory file for what the vault and Cloudflare hold; comments say where it guessed or left things out."""
    by_id = {token.id: token for token in sources.tokens}
    by_name: dict[str, list[CfToken]] = {}
    for token in sources.tokens:
        by_name.setdefault(token.name, []).append(token)
    groups = {group.id: group for group in sources.groups}
    zone_names = {zone.id: zone.name for zone in sources.zones}
    notes: list[str] = []
    blocks: list[str] = []
    used_groups: dict[str, str] = {}
    account_level: list[str] = []
    accounts: set[str] = {zone.account.id for zone in sources.zones if zone.account}
    matched: set[str] = set()
    for name in sources.names:
        token_id = sources.companions.get(name + "__TOKEN_ID")
        record = by_id.get(token_id or "") or _only(by_name.get(name, []))
        if name in sources.revoked:
            notes.append(f"# {name}: the vault holds a REVOKED placeholder; declare it again to provision it.")
            continue
        if record is None:
            where = f"no token with id {token_id}" if token_id else f"no single token named {name}"
            notes.append(f"# {name}: in the vault, but Cloudflare has {where}; left out (nothing to read its "
                         "permissions from).")
            continue
        matched.add(record.id)
        block, found_accounts = _token_block(name, record, sources, groups, zone_names, used_groups, account_level,
                                             management=management)
        if record.id in sources.account_owned:
            block = block.replace(f"name = {_q(name)}\n", f"name = {_q(name)}\nowner = \"account\"\n", 1)
        accounts |= found_accounts
        blocks.append(block)
    for token in sources.tokens:
        if token.id not in matched:
            notes.append(f"# Cloudflare token {token.name} ({token.id}) has no value in the vault: not imported.")
    head = _head(sources, notes, accounts, account_level, used_groups, management=management, vault_path=vault_path,
                 environment=environment, now=now, account_owned=bool(sources.account_owned & matched))
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks) + "\n"


def _head(sources: Sources, notes: list[str], accounts: set[str], account_level: list[str], used_groups: dict[str, str],
          *, management: str, vault_path: str, environment: str, now: datetime, account_owned: bool) -> list[str]:
    """The draft's top: where it came from, what it left out, the management token, the account, the vault, the
    zones and the permission groups the tokens use."""
    head = [
        _comment(f"# Drafted by `cftoken inventory import` on {now:%Y-%m-%d %H:%M} UTC from the vault folder "
                 f"{vault_path}"),
        _comment(f"# ({environment}) and Cloudflare's token list. Lines marked 'guessed' need a person's eye;"),
        "# consumers are not known to either: fill them in from the runbook's consumer map.",
        *map(_comment, notes + ([f"# {sources.account_note}"] if sources.account_note else [])),
        "",
        "# The token that mints, rolls and revokes the others (User -> API Tokens -> Edit).",
        f"management_token = {_q(management)}",
    ]
    if account_owned:
        head += ["# The account-owned tokens (owner = \"account\") are managed with it too: it needs Account API "
                 "Tokens Write.", f"account_management_token = {_q(management)}"]
    if len(accounts) == 1:
        head.append(f"account_id = {_q(next(iter(accounts)))}")
    elif accounts:
        head.append(_comment(f"# guessed: several accounts seen ({', '.join(sorted(accounts))}); set account_id to "
                             "yours"))
    head.append(f"account_permissions = [{', '.join(_q(name) for name in dict.fromkeys(account_level))}]")
    head += ["", "[vault]", f"path = {_q(vault_path)}", f"environment = {_q(environment)}", "", "[zones]"]
    head += [f"{_q(zone.name)} = {_q(zone.id)}" for zone in sources.zones]
    head += ["", "[permission_groups]"]
    head += [f"{_q(name)} = {_q(group_id)}" for group_id, name in used_groups.items()]
    return head


def diff_inventory(inventory: Inventory, sources: Sources) -> list[str]:
    """Per inventory token, how Cloudflare differs (zones, permission groups; verify's own comparison)."""
    by_id = {token.id: token for token in sources.tokens}
    lines = []
    for token in inventory.tokens:
        token_id = preferred_id(token, sources.companions.get(token.name + "__TOKEN_ID"))
        record = by_id.get(token_id or "") or _only([t for t in sources.tokens if t.name == token.name])
        if record is None:
            where = f"no token with id {token_id}" if token_id else "no token with that name"
            lines.append(f"{token.name}: not at Cloudflare ({where}) — `/cftoken provision {token.name}` creates it")
            continue
        found = [f"zones: {text}" for text in [zone_differences(token, record, inventory)] if text]
        found += [f"permissions: {text}" for text in [permission_differences(token, record, inventory)] if text]
        if token_id and record.id != token_id:
            found.append(f"token id: the inventory or vault says {token_id}, Cloudflare's token is {record.id}")
        lines.append(f"{token.name}: " + ("; ".join(found) if found else "same as at Cloudflare"))
    declared = {token.name for token in inventory.tokens}
    lines += [f"{t.name}: at Cloudflare ({t.id}) but not in the inventory" for t in sources.tokens
              if t.name not in declared]
    return lines


def _pin(name: str, record: CfToken, sources: Sources, comments: list[str]) -> list[str]:
    """A token_id line only where the vault's __TOKEN_ID (what the bot uses) does not name the token already."""
    if sources.companions.get(name + "__TOKEN_ID") == record.id:
        return []
    comments.append(f"# {name}__TOKEN_ID in the vault is not {record.id}: set it there and drop token_id here")
    return [f"token_id = {_q(record.id)}"]


def _token_block(name: str, record: CfToken, sources: Sources, groups: dict[str, PermissionGroup],
                 zone_names: dict[str, str], used_groups: dict[str, str], account_level: list[str], *,
                 management: str) -> tuple[str, set[str]]:
    comments: list[str] = []
    zones: list[str] = []
    every = False
    accounts: set[str] = set()
    permissions: list[str] = []
    for policy in record.policies:
        if policy.effect != "allow":
            comments.append("# a deny policy at Cloudflare is not part of the inventory's model: check it")
            continue
        for group in policy.permission_groups:
            known = groups.get(group.id)
            group_name = (known.name if known else group.name) or group.id
            used_groups[group.id] = group_name
            permissions.append(group_name)
            if known and ACCOUNT_SCOPE in known.scopes and ZONE_SCOPE not in known.scopes:
                account_level.append(group_name)
        every = _read_resources(policy, groups, zone_names, zones, accounts, comments) or every
    cadence, cadence_note = _cadence(record)
    scope = sources.companions.get(name + "__SCOPES")
    if not scope:
        scope = ", ".join(dict.fromkeys(permissions))
        comments.append(f"# guessed: scope from the permission groups ({name}__SCOPES is missing in the vault)")
    if name == management and not any(g.startswith("API Tokens") for g in permissions):
        comments.append("# guessed: marked the management token by name, but it has no API Tokens permission")
    if cadence_note:
        comments.append(cadence_note)
    pinned = _pin(name, record, sources, comments)
    lines = [*map(_comment, comments), "[[tokens]]", f"name = {_q(name)}", *pinned, f"scope = {_q(scope)}",
             f"zones = {_list(['*'] if every else list(dict.fromkeys(zones)))}",
             f"permissions = {_list(list(dict.fromkeys(permissions)))}", f"cadence_days = {cadence}",
             "consumers = []"]
    ip = (record.condition or {}).get("request_ip") or (record.condition or {}).get("request.ip")
    if isinstance(ip, dict) and ip.get("in"):
        rule = f"in = {_list(ip['in'])}" + (f", not_in = {_list(ip['not_in'])}" if ip.get("not_in") else "")
        lines.append(f"condition = {{ request_ip = {{ {rule} }} }}")
    return "\n".join(lines), accounts


def _read_resources(policy: Policy, groups: dict[str, PermissionGroup], zone_names: dict[str, str], zones: list[str],
                    accounts: set[str], comments: list[str]) -> bool:
    """One allow policy's resources: its zones and accounts added to `zones` and `accounts`; True when it grants
    all zones."""
    every = False
    for key, value in policy.resources.items():
        if key == ALL_ZONES_RESOURCE:
            every = True
        elif key.startswith(ZONE_RESOURCE):
            zone_id = key.removeprefix(ZONE_RESOURCE)
            if zone_id in zone_names:
                zones.append(zone_names[zone_id])
            else:
                comments.append(f"# zone {zone_id} is not visible to the management token: left out")
        elif key.startswith(ACCOUNT_RESOURCE) and len(key) == ACCOUNT_KEY_LENGTH:
            accounts.add(key.removeprefix(ACCOUNT_RESOURCE))
            zone_groups = any(ZONE_SCOPE in (groups[g.id].scopes if g.id in groups else ())
                              for g in policy.permission_groups)
            if (isinstance(value, dict) and ALL_ZONES_RESOURCE in value) or (value == "*" and zone_groups):
                every = True
    return every


def _cadence(record: CfToken) -> tuple[int, str]:
    """The cadence: issued (or last modified) → expires_on when that is a usual cadence, else a guess."""
    if record.expires_on is None:
        return DEFAULT_CADENCE, f"# guessed: cadence_days = {DEFAULT_CADENCE} (the token has no expiry at Cloudflare)"
    start = record.modified_on or record.issued_on
    days = round((record.expires_on - start).total_seconds() / 86400) if start else None
    if days in USUAL_CADENCES:
        return days, ""
    return DEFAULT_CADENCE, (f"# guessed: cadence_days = {DEFAULT_CADENCE} (Cloudflare's issued/modified → expires_on "
                             f"is {days} days, not a usual cadence)")


def _base_name(key: str) -> str:
    for suffix in COMPANIONS:
        if key.endswith(suffix):
            return key.removesuffix(suffix)
    return key


def _text(secret: SecretStr) -> str:
    return secret.get_secret_value().strip()


def _only(tokens: list[CfToken]) -> CfToken | None:
    return tokens[0] if len(tokens) == 1 else None


def _q(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's (newlines, quotes, control characters; DEL too, which JSON
    leaves bare and TOML refuses), so no name from the vault or Cloudflare can end the string or start a line."""
    return json.dumps(str(text)).replace("\x7f", "\\u007f")


def _comment(line: str) -> str:
    """A comment line quoting names from the vault or Cloudflare: every character TOML does not allow in a comment
    (a newline would start a line of TOML, e.g. `[[tokens]]`) is written as its escape, visibly."""
    return "".join(c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in line)


def _list(items: list[str]) -> str:
    return "[" + ", ".join(_q(item) for item in items) + "]"
