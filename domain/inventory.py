"""The token inventory: which tokens the bot manages, their expected zones and permissions, and their consumers."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.errors import InventoryError
from domain.token_owner import USER, Kind, TokenOwner

ALL_ZONES = "*"
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_NAME = re.compile(r"^[A-Z][A-Z0-9_]*[A-Z0-9]$")
_APPROVER = re.compile(r"^[UWS][A-Z0-9]{2,}$")  # a Slack user (U…/W…) or user group (S…) id
MAX_APPROVALS = 5
COMPANIONS = ("__EXPIRES_AT", "__SCOPES", "__TOKEN_ID")
NAME_MAX = 120  # Cloudflare's limit on a token name
DEFAULT_OVERLAP_MINUTES = 1440
MAX_OVERLAP_MINUTES = 7 * 24 * 60


_OWNER = re.compile(r"^(?:<@(?P<user>[UW][A-Z0-9]{2,})>|<!subteam\^(?P<group>S[A-Z0-9]{2,})(?:\|[^>]*)?>|"
                    r"(?P<bare>[UWS][A-Z0-9]{2,}))$")


class Consumer(BaseModel):
    """Who uses a token and how; optionally the Infisical secret sync that feeds it (`sync`, a name or id), who owns
    it (`owner`: "<@U…>", "<!subteam^S…>" or a bare id), whether a person confirms it by hand (`confirm`), and what
    a revoke does to it (`on_revoke`: push the placeholder through the sync, or "remove" it at the destination)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    who: str
    how: str
    sync: str | None = Field(default=None, min_length=1, max_length=256)
    owner: str | None = None
    confirm: bool = False
    on_revoke: Literal["placeholder", "remove"] = "placeholder"

    @model_validator(mode="after")
    def _check(self) -> Consumer:
        if self.owner is not None and not _OWNER.match(self.owner):
            raise ValueError(f'owner {self.owner!r} of {self.who!r} must be a Slack user "<@U…>" or user group '
                             '"<!subteam^S…>"')
        if self.confirm and self.owner is None:
            raise ValueError(f"{self.who!r} has confirm = true but no owner to confirm it")
        if self.on_revoke == "remove" and self.sync is None:
            raise ValueError(f'{self.who!r} has on_revoke = "remove" but no sync to remove it through')
        return self

    @property
    def owner_id(self) -> str | None:
        """The owner's Slack id (U…/W… a user, S… a user group), or None."""
        match = _OWNER.match(self.owner or "")
        return None if match is None else next(v for v in match.groupdict().values() if v)

    @property
    def mention(self) -> str:
        """How the owner is mentioned in Slack ('' without one)."""
        owner = self.owner_id
        if owner is None:
            return ""
        return f"<!subteam^{owner}>" if owner.startswith("S") else f"<@{owner}>"


class IpRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    allowed: tuple[str, ...] = Field(default=(), alias="in")
    denied: tuple[str, ...] = Field(default=(), alias="not_in")


class Condition(BaseModel):
    """Cloudflare's token condition: the client IP ranges a token may (and may not) be used from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_ip: IpRule

    def as_cloudflare(self) -> dict[str, dict[str, list[str]]]:
        rule: dict[str, list[str]] = {"in": list(self.request_ip.allowed)}
        if self.request_ip.denied:
            rule["not_in"] = list(self.request_ip.denied)
        return {"request_ip": rule}


class Token(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    token_id: str | None = None
    scope: str
    zones: tuple[str, ...]
    permissions: tuple[str, ...] = Field(min_length=1)
    cadence_days: int
    unblocks: str = ""
    consumers: tuple[Consumer, ...] = ()
    condition: Condition | None = None
    probe: Literal["dns", "waf", "none"] | None = None  # the job call verify makes; None: from the permissions
    rotation: Literal["roll", "overlap"] = "roll"  # roll: in place, the old value dies; overlap: a twin, then retire
    overlap_minutes: int | None = None  # overlap only: how long the old value keeps working after the new is stored
    owner: Kind = "user"  # user: /user/tokens…; account: an account-owned token at /accounts/{account_id}/tokens…
    approvers: tuple[str, ...] = ()  # this token's own approvers (users, or one group), instead of CFTOKEN_APPROVERS
    approvals: int | None = None  # approvals its roll, revoke and provision need, instead of CFTOKEN_*_APPROVALS

    @model_validator(mode="after")
    def _check(self) -> Token:
        if not _TOKEN_NAME.match(self.name) or "__" in self.name:
            raise ValueError(f"name {self.name!r} must be UPPER_SNAKE_CASE without '__'")
        if len(self.name) > NAME_MAX:
            raise ValueError(f"name {self.name!r} is longer than Cloudflare's {NAME_MAX} characters")
        if self.token_id is not None and not _HEX_ID.match(self.token_id):
            raise ValueError(f"token_id {self.token_id!r} must be 32 lowercase hex characters")
        if not 1 <= self.cadence_days <= 3650:
            raise ValueError(f"cadence_days {self.cadence_days} must be between 1 and 3650")
        if self.overlap_minutes is not None and self.rotation != "overlap":
            raise ValueError('overlap_minutes applies only with rotation = "overlap"')
        if not 1 <= self.overlap <= MAX_OVERLAP_MINUTES:
            raise ValueError(f"overlap_minutes {self.overlap} must be between 1 and {MAX_OVERLAP_MINUTES} (7 days)")
        if ALL_ZONES in self.zones and len(self.zones) > 1:
            raise ValueError(f'zones {list(self.zones)}: "*" means all zones and stands alone')
        _check_approvers(self.approvers, self.approvals)
        return self

    @property
    def probe_kind(self) -> str:
        """Which read-only call of the token's job verify makes: the inventory's, else from its permissions."""
        if self.probe is not None:
            return self.probe
        if any(p.startswith("DNS ") for p in self.permissions):
            return "dns"
        if any(p.startswith("Zone WAF ") for p in self.permissions):
            return "waf"
        return "none"

    @property
    def overlap(self) -> int:
        """Minutes the old value keeps working after an overlap rotation stored the new one."""
        return self.overlap_minutes if self.overlap_minutes is not None else DEFAULT_OVERLAP_MINUTES

    @property
    def all_zones(self) -> bool:
        return self.zones == (ALL_ZONES,)

    def companion(self, suffix: str) -> str:
        """Vault key of a companion secret, e.g. companion("__EXPIRES_AT")."""
        return self.name + suffix


def _check_approvers(approvers: tuple[str, ...], approvals: int | None) -> None:
    bad = [entry for entry in approvers if not _APPROVER.match(entry)]
    if bad:
        raise ValueError(f"approvers: {', '.join(map(repr, bad))} is not a Slack user ID (U…/W…) or user-group ID (S…)")
    if len(set(approvers)) != len(approvers):
        raise ValueError("approvers lists someone twice")
    if sum(entry.startswith("S") for entry in approvers) > 1:
        raise ValueError("approvers may name one user group (S…) at most, beside any users")
    if approvals is not None and not 1 <= approvals <= MAX_APPROVALS:
        raise ValueError(f"approvals {approvals} must be between 1 and {MAX_APPROVALS}")


class Vault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    environment: str


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vault: Vault
    management_token: str
    account_management_token: str | None = None  # manages the account-owned tokens; default: management_token
    account_id: str | None = None
    audit_token: str | None = None  # reads Cloudflare's audit log (Account Settings Read); may be the management token
    zones: dict[str, str]
    permission_groups: dict[str, str]
    account_permissions: tuple[str, ...] = ()
    tokens: tuple[Token, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Inventory:
        for table in ("zones", "permission_groups"):
            for key, value in getattr(self, table).items():
                if not _HEX_ID.match(value):
                    raise ValueError(f"[{table}] {key!r} = {value!r}: IDs are 32 lowercase hex characters")
        if self.account_id is not None and not _HEX_ID.match(self.account_id):
            raise ValueError(f"account_id {self.account_id!r} must be 32 lowercase hex characters")
        for permission in self.account_permissions:
            if permission not in self.permission_groups:
                raise ValueError(f"account_permissions: unknown permission {permission!r} "
                                 f"(known: {', '.join(self.permission_groups)})")
        seen: set[str] = set()
        for token in self.tokens:
            if token.name in seen:
                raise ValueError(f"token {token.name!r} is listed twice")
            seen.add(token.name)
            for zone in token.zones:
                if zone != ALL_ZONES and zone not in self.zones:
                    raise ValueError(f"token {token.name}: unknown zone {zone!r} (known: {', '.join(self.zones)})")
            for permission in token.permissions:
                if permission not in self.permission_groups:
                    raise ValueError(
                        f"token {token.name}: unknown permission {permission!r} "
                        f"(known: {', '.join(self.permission_groups)})"
                    )
        if self.management_token not in seen:
            raise ValueError(f"management_token {self.management_token!r} is not one of the tokens")
        if self.account_management_token is not None and self.account_management_token not in seen:
            raise ValueError(f"account_management_token {self.account_management_token!r} is not one of the tokens")
        if self.audit_token is not None and self.audit_token not in seen:
            raise ValueError(f"audit_token {self.audit_token!r} is not one of the tokens")
        account_owned = [token.name for token in self.tokens if token.owner == "account"]
        if account_owned and self.account_id is None:
            raise ValueError(f"account_id is required: {', '.join(account_owned)} is account-owned, and Cloudflare "
                             "cannot tell an account token which account it is in (add account_id = \"<32 hex>\", "
                             "the id in the dashboard's URL)")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(token.name for token in self.tokens)

    def find(self, name: str) -> Token | None:
        """The token called `name`, matched case-insensitively, or None."""
        wanted = name.strip().upper()
        return next((token for token in self.tokens if token.name == wanted), None)

    def suggest(self, name: str) -> str | None:
        """The inventory name closest to a misspelt `name`, if any is close enough."""
        matches = difflib.get_close_matches(name.strip().upper(), self.names, n=1, cutoff=0.6)
        return matches[0] if matches else None

    def is_management(self, token: Token) -> bool:
        """Whether `token` is one the bot manages the others with (never rolled by the bot)."""
        return token.name in (self.management_token, self.account_management_token)

    def owner(self, token: Token) -> TokenOwner:
        """Who owns `token`, and so which endpoints the Cloudflare client calls for it."""
        return TokenOwner("account", self.account_id) if token.owner == "account" else USER

    def manager_name(self, owner: TokenOwner) -> str:
        """The inventory name of the token that manages tokens of `owner`'s kind."""
        if owner.kind == "account":
            return self.account_management_token or self.management_token
        return self.management_token

    @property
    def owners(self) -> tuple[TokenOwner, ...]:
        """Every kind of owner the inventory's tokens have, user first (what the scan and import list)."""
        kinds = {token.owner for token in self.tokens}
        found = [USER] if "user" in kinds else []
        return (*found, TokenOwner("account", self.account_id)) if "account" in kinds else tuple(found)

    @property
    def listed_owners(self) -> tuple[TokenOwner, ...]:
        """The token lists the scan reads: every owner's, and the account's whenever its id is known (so a token
        declared as the wrong kind is found where it is, not called deleted)."""
        extra = (TokenOwner("account", self.account_id),) if self.account_id else ()
        return tuple(dict.fromkeys((USER, *self.owners, *extra)))

    @property
    def management(self) -> Token:
        token = self.find(self.management_token)
        assert token is not None  # guaranteed by _check
        return token

    def zone_ids(self, token: Token) -> frozenset[str]:
        return frozenset(self.zones[zone] for zone in token.zones if zone != ALL_ZONES)

    def permission_ids(self, token: Token) -> frozenset[str]:
        return frozenset(self.permission_groups[name] for name in token.permissions)

    def is_account_level(self, permission: str) -> bool:
        """Whether Cloudflare grants this permission group on the account, not on zones (Pages, Access)."""
        return permission in self.account_permissions

    def permission_name(self, group_id: str) -> str:
        return next((name for name, gid in self.permission_groups.items() if gid == group_id), group_id)

    def zone_name(self, zone_id: str) -> str:
        return next((name for name, zid in self.zones.items() if zid == zone_id), zone_id)


def load_inventory(path: Path | str) -> Inventory:
    """Read and validate the inventory file; any problem raises InventoryError naming the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read the inventory ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Inventory.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        line = _line_of(text, data, loc, error["msg"])
        where = f"{path}:{line}" if line else str(path)
        field = ".".join(str(part) for part in loc) or "file"
        message = error["msg"].removeprefix("Value error, ")
        raise InventoryError(f"{where}: {field}: {message}") from None


def _line_of(text: str, data: dict, loc: tuple, message: str) -> int | None:
    """Best-effort line number for a validation error: the offending key or token block in the TOML text."""
    lines = text.splitlines()
    if loc[:1] == ("tokens",) and len(loc) >= 2 and isinstance(loc[1], int):
        block_starts = [i for i, line in enumerate(lines) if line.strip() == "[[tokens]]"]
        if loc[1] < len(block_starts):
            start = block_starts[loc[1]]
            key = str(loc[2]) if len(loc) > 2 else message.split(" ", 1)[0]
            for i in range(start, len(lines)):
                if lines[i].split("=")[0].strip() == key:
                    return i + 1
            return start + 1
    # The value the message quotes; its last occurrence, so a duplicate points at the second entry.
    quoted = re.findall(r"'([^']+)'", message)
    for needle in quoted:
        for i in reversed(range(len(lines))):
            if needle in lines[i] and not lines[i].lstrip().startswith("#"):
                return i + 1
    if loc:
        for i, line in enumerate(lines):
            if line.split("=")[0].strip() == str(loc[0]) or line.strip() == f"[{loc[0]}]":
                return i + 1
    return None
