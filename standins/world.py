"""The runbook's world on the stand-ins, set up by one call: zones, tokens and policies at Cloudflare, the vault
folder with values and companions, a FreeScout mailbox, and the SRE channel with two approvers and an engineer.

    world = World.start()                 # four stand-ins on loopback, one shared clock, seeded
    world.settings_env(redis_url=...)     # the environment that points the bot at them (web, worker, clock)
    world.cloudflare.value_of(world.token_ids["CF_WAF_EDIT_RAXX_APP"])
    world.vault_value("CF_WAF_EDIT_RAXX_APP")
    world.stop()
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from domain.inventory import Inventory, Token, load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins.base import Clock, iso
from standins.cloudflare import CloudflareStandIn
from standins.cloudflare_state import EXPOSED, legacy_value, new_value
from standins.freescout import FreeScoutStandIn
from standins.infisical import InfisicalStandIn
from standins.slack import SlackStandIn
from standins.slack import seed as seed_slack
from standins.slack_requests import block_action

PROJECT_ID = "proj-moosequest"
CLIENT_ID = "cftoken-bot-identity"
CLIENT_SECRET = "cftoken-bot-identity-secret"  # a stand-in credential, not a real one
FREESCOUT_KEY = "freescout-standin-key"
FREESCOUT_USER = 7  # not 1: the bot must use FREESCOUT_USER_ID, not assume the first user
SIGNING_SECRET = "standin-signing-secret"
SECRET_KEY = "standin-secret-key-for-sealing-new-values-0123456789"
USER_TAG = "5c0f9d5a2b8f4b3c9a1e2d3f4a5b6c7d"
ACCOUNT_ID = "01a7362d577a6c3019a474fd6f485823"
CHANNEL = "C0SRE0001"
APPROVERS = ("U0ALICE01", "U0BOB0002")
ENGINEER = "U0CAROL03"
RUNBOOK_IDS = {  # the runbook table's token ids, which the seeded world keeps (the vault's __TOKEN_ID holds them)
    "CF_WAF_EDIT_RAXX_APP": "d0cf0adeda107092f6e8c0646460f8f8",
    "CF_DNS_EDIT_GETRAXX_COM": "6f4a364c8edccc31e365efdd12ec5adf",
}

# Days to expiry for each token when the world is seeded (None: no expiry at Cloudflare).
DEFAULT_EXPIRY_DAYS: dict[str, int | None] = {
    "CF_WAF_EDIT_RAXX_APP": 62,
    "CF_DNS_EDIT_GETRAXX_COM": 41,
    "CF_PAGES_DEPLOY": 20,
    "CF_ACCESS_MGMT": 75,
    "CF_PAGES_READ": None,
}


def policies_for(token: Token, inventory: Inventory) -> list[dict[str, Any]]:
    """Cloudflare policies granting exactly what the inventory expects of `token`: API Tokens groups on the
    user, account-level groups on the account, the rest on the token's zones (or all zones)."""
    groups = [{"id": inventory.permission_groups[name], "name": name} for name in token.permissions]
    user = [g for g in groups if g["name"].startswith("API Tokens")]
    account = [g for g in groups if inventory.is_account_level(g["name"])]
    zone = [g for g in groups if g not in user and g not in account]
    if token.all_zones:
        zone_resources: dict[str, Any] = {"com.cloudflare.api.account.zone.*": "*"}
    else:
        zone_resources = {f"com.cloudflare.api.account.zone.{zone_id}": "*"
                          for zone_id in sorted(inventory.zone_ids(token))}
    policies = [
        {"effect": "allow", "resources": {f"com.cloudflare.api.user.{USER_TAG}": "*"}, "permission_groups": user},
        {"effect": "allow", "resources": {f"com.cloudflare.api.account.{inventory.account_id or ACCOUNT_ID}": "*"},
         "permission_groups": account},
        {"effect": "allow", "resources": zone_resources, "permission_groups": zone},
    ]
    return [policy for policy in policies if policy["permission_groups"]]


BREAKS = {
    "disable": "disabled at Cloudflare",
    "expire": "expires_on moved into the past",
    "expose": "marked revoked (exposed) by Cloudflare's secret scanning",
    "extra_zone": "policy granted an extra zone",
    "drop_permission": "policy lost a permission group",
    "delete": "deleted at Cloudflare outside the bot",
    "vault_value": "vault value replaced by one Cloudflare does not know",
    "companion": "__EXPIRES_AT changed in the vault",
    "dashboard_roll": "rolled in the Cloudflare dashboard by someone@example.test (outside the bot)",
    "hand_paste": "a value pasted into the vault by hand",
}
MGMT_PERMISSIONS = ('permissions = ["API Tokens Write", "Account API Tokens Write", "Access: Apps and Policies Write", '
                    '"Zone Read"]')


def audit_inventory_text(text: str, *, audit_token: bool = True) -> str:
    """An inventory (the shipped one's text) that reads Cloudflare's audit log: account_id, audit_token = the
    management token, and that token granted Account Settings Read on the account."""
    from standins.cloudflare_audit import ACCOUNT_SETTINGS_READ

    account = "" if "\naccount_id = " in text else f'account_id = "{ACCOUNT_ID}"\n'  # the shipped one has it
    text = text.replace('\nmanagement_token = "CF_ACCESS_MGMT"\n', '\nmanagement_token = "CF_ACCESS_MGMT"\n'
                        + account + ('audit_token = "CF_ACCESS_MGMT"\n' if audit_token else ""))
    text = text.replace("account_permissions = [", 'account_permissions = ["Account Settings Read", ')
    group = f'"Account Settings Read" = "{ACCOUNT_SETTINGS_READ}"\n'
    text = text.replace("[permission_groups]\n", "[permission_groups]\n" + group)
    return text.replace(MGMT_PERMISSIONS, MGMT_PERMISSIONS[:-1] + ', "Account Settings Read"]')


def consumers_inventory_text(text: str) -> str:
    """The inventory with the sandbox world's consumers: CF_DNS_EDIT_GETRAXX_COM's two secret syncs (World.add_syncs)
    and, on CF_PAGES_DEPLOY, a Terraform run by hand that its owner confirms."""
    marker = '  { who = "Terraform / ad-hoc CLI", how = '
    added = ('  { who = "site deploy (GitHub Actions)", how = "DNS updates on deploy", sync = "gh-deploy", '
             f'owner = "<@{APPROVERS[0]}>" }},\n'
             '  { who = "edge Worker", how = "DNS lookups at the edge", sync = "cf-worker-edge" },\n')
    text = text.replace(marker, added + marker, 1)
    pages = 'name = "CF_PAGES_DEPLOY"\n'
    head, found, tail = text.partition(pages)
    hand = (f'consumers = [{{ who = "Terraform (run by hand)", how = "terraform apply", owner = "<@{APPROVERS[1]}>", '
            'confirm = true }]')
    return head + found + tail.replace("consumers = []", hand, 1) if found else text


def _broken_policies(policies: list[dict[str, Any]], how: str, inventory: Inventory) -> list[dict[str, Any]]:
    """The token's policies with one more zone on the first policy, or without its last permission group."""
    first = dict(policies[0])
    if how == "extra_zone":
        granted = set(first["resources"])
        extra = next((zid for zid in inventory.zones.values()
                      if f"com.cloudflare.api.account.zone.{zid}" not in granted), None)
        key = f"com.cloudflare.api.account.zone.{extra}" if extra else "com.cloudflare.api.account.zone.*"
        first["resources"] = {**first["resources"], key: "*"}
    elif len(first["permission_groups"]) > 1:
        first["permission_groups"] = first["permission_groups"][:-1]
    else:  # one group only: swap it for Zone Read, so the token keeps a policy but loses what it needs
        first["permission_groups"] = [{"id": inventory.permission_groups.get("Zone Read", "")}]
    return [{k: v for k, v in first.items() if k != "id"}, *({k: v for k, v in p.items() if k != "id"}
                                                             for p in policies[1:])]


@dataclass
class World:
    clock: Clock
    inventory: Inventory
    cloudflare: CloudflareStandIn
    infisical: InfisicalStandIn
    freescout: FreeScoutStandIn
    slack: SlackStandIn
    token_ids: dict[str, str] = field(default_factory=dict)
    environment: str = "prod"
    signing_secret: str = SIGNING_SECRET  # the sandbox picks a random one per run
    seeded_expiry: dict[str, datetime | None] = field(default_factory=dict)

    @classmethod
    def start(
        cls, *, inventory: Inventory | None = None, expiry_days: dict[str, int | None] | None = None,
        signing_secret: str = SIGNING_SECRET,
    ) -> World:
        """Start the four stand-ins on loopback ports and seed the runbook's world."""
        clock = Clock()
        world = cls(
            clock=clock,
            inventory=inventory or load_inventory(DEFAULT_INVENTORY),
            cloudflare=CloudflareStandIn(clock).start(),
            infisical=InfisicalStandIn(clock).start(),
            freescout=FreeScoutStandIn(clock, api_key=FREESCOUT_KEY).start(),
            slack=SlackStandIn(clock).start(),
            signing_secret=signing_secret,
        )
        world.seed(DEFAULT_EXPIRY_DAYS if expiry_days is None else expiry_days)
        return world

    def seed(self, expiry_days: dict[str, int | None]) -> None:
        for name, zone_id in self.inventory.zones.items():
            self.cloudflare.add_zone(name, zone_id, account_id=ACCOUNT_ID)
        self.infisical.add_identity(CLIENT_ID, CLIENT_SECRET, project_id=PROJECT_ID)
        for token in self.inventory.tokens:
            self.add_token(token, expiry_days.get(token.name))
        self.freescout.add_mailbox(1, "SRE incidents", "sre-incidents@example.test")
        self.freescout.add_user(FREESCOUT_USER, "cftoken", "Bot", "cftoken@example.test")
        seed_slack(self.slack)

    def add_token(self, token: Token, days: int | None, *, with_companions: bool = True) -> str:
        """Create `token` at Cloudflare (expiring in `days`) and in the vault with its companions; return its id."""
        expires_on = (self.clock.now() + timedelta(days=days)).replace(microsecond=0) if days is not None else None
        token_id, value = self.cloudflare.add_token(
            token.name,
            policies=policies_for(token, self.inventory),
            expires_on=expires_on,
            token_id=token.token_id or RUNBOOK_IDS.get(token.name) or secrets.token_hex(16),
            # an account-owned token made before 2026: a legacy value, which says nothing of its kind
            **self.owned_by(token, value=legacy_value()),
        )
        self.token_ids[token.name] = token_id
        self.seeded_expiry[token.name] = expires_on
        self.put(token.name, value)
        if with_companions:
            self.put(token.companion("__SCOPES"), token.scope)
            self.put(token.companion("__TOKEN_ID"), token_id)
            if expires_on is not None:
                self.put(token.companion("__EXPIRES_AT"), iso(expires_on))
        return token_id

    def add_syncs(self) -> dict[str, dict[str, Any]]:
        """The vault folder's two secret syncs: a GitHub repository (auto-sync on) and a Cloudflare Worker (auto-sync
        off, so the bot triggers it); `world.infisical.syncs.break_destination(id)` breaks one."""
        syncs = self.infisical.syncs
        return {
            "gh-deploy": syncs.add(PROJECT_ID, self.environment, self.vault_path, name="gh-deploy",
                                   destination="github", destination_config={"owner": "raxx", "repo": "site"}),
            "cf-worker-edge": syncs.add(PROJECT_ID, self.environment, self.vault_path, name="cf-worker-edge",
                                        destination="cloudflare-workers", destination_config={"scriptId": "edge"},
                                        auto_sync=False),
        }

    def break_sync(self, name: str, how: str = "fail") -> str:
        """A world control: the sync `name`'s destination fails every attempt ("fail") or answers again ("repair")."""
        sync = next(s for s in self.infisical.syncs.list() if s["name"] == name)
        if how == "repair":
            self.infisical.syncs.recover(sync["id"])
            return f"the destination of {name} answers again"
        self.infisical.syncs.break_destination(sync["id"], "Request failed with status code 401: Bad credentials")
        return f"the destination of {name} refuses every run (401 Bad credentials)"

    def owned_by(self, token: Token, **account_only: Any) -> dict[str, Any]:
        """The stand-in's add_token arguments for the token's owner: its account (and `account_only`) when it is
        account-owned, nothing for a user token."""
        if token.owner != "account":
            return {}
        return {"account_id": self.inventory.account_id or ACCOUNT_ID, **account_only}

    @property
    def vault_path(self) -> str:
        return self.inventory.vault.path

    def put(self, name: str, value: str) -> None:
        self.infisical.put_secret(PROJECT_ID, self.environment, self.vault_path, name, value)

    def vault_value(self, name: str) -> str | None:
        return self.infisical.values(PROJECT_ID, self.environment, self.vault_path).get(name)

    def vault(self) -> dict[str, str]:
        return self.infisical.values(PROJECT_ID, self.environment, self.vault_path)

    def remove(self, name: str) -> None:
        self.infisical.remove_secret(PROJECT_ID, self.environment, self.vault_path, name)

    def live_value(self, name: str) -> str | None:
        """The value Cloudflare currently accepts for inventory token `name`."""
        return self.cloudflare.value_of(self.token_ids[name])

    def expires_on(self, name: str) -> datetime | None:
        record = self.cloudflare.token(self.token_ids[name])
        value = record.get("expires_on") if record else None
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def break_token(self, name: str, how: str) -> str:
        """Break inventory token `name` one of the ways BREAKS names, as the world outside the bot would; say how."""
        token_id, now = self.token_ids[name], self.clock.now()
        record = self.cloudflare.token(token_id)
        if how == "disable":
            self.cloudflare.set_status(token_id, "disabled")
        elif how == "expire":
            self.cloudflare.set_expiry(token_id, now - timedelta(minutes=1))
        elif how == "expose":  # Cloudflare's secret scanning found the value leaked
            self.cloudflare.set_status(token_id, EXPOSED)
        elif how == "delete":
            self.cloudflare.remove(token_id)
        elif how in ("extra_zone", "drop_permission") and record is not None:
            self.cloudflare.set_policies(token_id, _broken_policies(record["policies"], how, self.inventory))
        elif how == "vault_value":  # someone rolled it outside the bot, or pasted the wrong value
            self.put(name, new_value("cfat_" if self.owned_by(self.inventory.find(name)) else "cfut_"))
        elif how == "companion":
            self.put(name + "__EXPIRES_AT", iso(now + timedelta(days=400)))
        elif how == "dashboard_roll":
            self.roll_in_dashboard(name)
        elif how == "hand_paste":
            self.paste_by_hand(name)
        else:
            raise ValueError(f"unknown way to break a token: {how!r} (known: {', '.join(BREAKS)})")
        return BREAKS[how]

    def roll_in_dashboard(self, name: str, *, email: str = "someone@example.test", ip: str = "203.0.113.7") -> None:
        """Someone rolls inventory token `name` in the Cloudflare dashboard: a new value the vault does not have,
        recorded in the audit log with their email and IP."""
        session = self.cloudflare.dashboard_session(email, ip=ip)
        answer = httpx.put(f"{self.cloudflare.url}/client/v4/user/tokens/{self.token_ids[name]}/value", json={},
                           headers={"Authorization": f"Bearer {session}"}, timeout=10)
        answer.raise_for_status()

    def paste_by_hand(self, name: str) -> None:
        """Someone pastes a value into the vault: Cloudflare's live value when the vault's is out of step (after a
        dashboard roll, say), otherwise one Cloudflare never issued."""
        live = self.cloudflare.value_of(self.token_ids[name])
        self.put(name, live if live and live != self.vault_value(name) else new_value())

    def repair(self, name: str, inventory: Inventory | None = None) -> None:
        """Put inventory token `name` back as seeded: active, its expiry, the inventory's policy, the live value in
        the vault and its companions (a deleted token comes back with its id)."""
        token = (inventory or self.inventory).find(name)
        assert token is not None
        token_id, expires_on = self.token_ids[name], self.seeded_expiry.get(name)
        value = self.cloudflare.value_of(token_id)
        self.cloudflare.add_token(name, policies=policies_for(token, inventory or self.inventory),
                                  expires_on=expires_on, token_id=token_id, value=value, **self.owned_by(token))
        self.put(name, self.cloudflare.value_of(token_id) or "")
        self.put(token.companion("__SCOPES"), token.scope)
        self.put(token.companion("__TOKEN_ID"), token_id)
        if expires_on is not None:
            self.put(token.companion("__EXPIRES_AT"), iso(expires_on))

    def signed_click(self, action_id: str, value: str, *, user: str, message_ts: str) -> tuple[str, dict[str, str]]:
        """A signed block_actions request for a button on a channel message, shaped as Slack sends it: the clicked
        message echoed as Slack holds it (block_ids, emoji/verbatim), `enterprise: null`, `is_enterprise_install:
        false`, a fresh response_url and a real trigger_id (views.open takes it once, within 3 s)."""
        message = self.slack.message(CHANNEL, message_ts)
        return block_action(
            signing_secret=self.signing_secret,
            action_id=action_id,
            value=value,
            user_id=user,
            user_name=self.slack.users.get(user, {}).get("name"),
            channel_id=CHANNEL,
            message_ts=message_ts,
            message=message.to_api() if message is not None and not message.deleted else None,
            response_url=self.slack.new_response_url(user, CHANNEL, message_ts),
            trigger_id=self.slack.new_trigger_id(user),
        )

    def settings_values(self, *, redis_url: str) -> dict[str, str]:
        """Setting name → value, as Settings keyword arguments (lower case) or environment (upper case)."""
        return {
            "slack_bot_token": self.slack.bot_token,
            "slack_signing_secret": self.signing_secret,
            "slack_api_url": self.slack.url + "/api/",
            "cftoken_channel_id": CHANNEL,
            "cftoken_approvers": ",".join(APPROVERS),
            "cftoken_secret_key": SECRET_KEY,
            "redis_url": redis_url,
            "cloudflare_api_url": self.cloudflare.url + "/client/v4",
            "infisical_api_url": self.infisical.url,
            "infisical_client_id": CLIENT_ID,
            "infisical_client_secret": CLIENT_SECRET,
            "infisical_project_id": PROJECT_ID,
            "infisical_environment": self.environment,
            "infisical_secret_path": self.vault_path,
            "freescout_url": self.freescout.url,
            "freescout_api_key": FREESCOUT_KEY,
            "freescout_mailbox_id": "1",
            "freescout_user_id": str(FREESCOUT_USER),
            # loopback stand-ins answer in milliseconds: a killed deliverer's claim lapses in 3 s, not 20
            "cftoken_outbox_lease_seconds": "3",
        }

    def settings_env(self, *, redis_url: str, **overrides: str) -> dict[str, str]:
        values = {**self.settings_values(redis_url=redis_url), **overrides}
        return {name.upper(): value for name, value in values.items()}

    def stop(self) -> None:
        for standin in (self.cloudflare, self.infisical, self.freescout, self.slack):
            standin.stop()
