"""Everything a job talks to, built from settings: vault, Cloudflare, FreeScout, Slack, Redis, time.

A worker process builds them once (`process_services`) and every job it runs reuses them: the settings, the
inventory, one HTTP connection pool (with its TLS context, ~50 ms to make) lent to every service client, and the
Infisical access token, which its client renews before it expires and again whenever Infisical refuses it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import redis
from pydantic import SecretStr

from domain import integrity, outbox, vault_seen
from domain.clock import make_clock, utc_now
from domain.errors import SettingsError, VaultFolderMissing, VaultLoginBlocked
from domain.inventory import Inventory, Token, load_inventory
from domain.mrkdwn import escape
from domain.redis_conn import connect
from domain.settings import WorkerSettings, load_settings
from domain.token_owner import USER, TokenOwner
from domain.vault import Vault
from workers.clients.cloudflare import CloudflareClient
from workers.clients.freescout import FreeScoutClient
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient
from workers.clients.infisical_login import RedisLoginGate
from workers.clients.slack import SlackClient


@dataclass
class Services:
    settings: WorkerSettings
    inventory: Inventory
    redis: redis.Redis
    infisical: InfisicalClient
    slack: SlackClient
    clock: Callable[[], datetime] = utc_now
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)
    # operations this process paused and told the channel of, kept in memory so a Redis that lost them can be told
    # of them (workers/operations/machine.py: remember_paused, paused_here)
    paused: dict[str, Any] = field(default_factory=dict)

    @property
    def transport(self) -> httpx.BaseTransport:
        """The connection pool, lent: a client closed after one job leaves it open for the next."""
        return _Lent(self.pool)

    def now(self) -> datetime:
        return self.clock()

    def cloudflare(self, management_token: SecretStr | None = None, owner: TokenOwner = USER) -> CloudflareClient:
        """A Cloudflare client for `owner`'s tokens; management calls need a management value read from the vault."""
        return CloudflareClient(
            base_url=self.settings.cloudflare_api_url,
            management_token=management_token,
            transport=self.transport,
            retry=self.retry,
            owner=owner,
        )

    def read_vault(self) -> Vault:
        """The whole vault folder in one request. Infisical lists a folder or environment that does not exist as
        empty, and the folder always holds the management token, so an empty listing is confirmed by reading it:
        VaultFolderMissing names the path and environment once, instead of every token reading as missing. A
        blocked login (VaultLoginBlocked) is reported to the channel once, by the process that met it first."""
        try:
            values = self.infisical.list_folder()
            if not values:
                self.infisical.confirm_folder(self.inventory.management_token)
                values = self.infisical.list_folder()
        except VaultLoginBlocked as exc:
            if self.infisical.first_block is exc:
                outbox.post(self.redis, f"vault-login:{exc.until or 'secret'}:{self.now():%Y%m%d%H%M}",
                            f":lock: {escape(str(exc))}.\n{exc.runbook}", None, now=self.now())
            raise
        return Vault(values, self.settings.infisical_secret_path, self.settings.infisical_environment)

    def report_missing_folder(self, exc: VaultFolderMissing) -> None:
        """An unattended reader (the scan) tells the channel the vault folder is missing, once a day while it is."""
        outbox.post(self.redis, f"vault-folder:{exc.environment}:{exc.path}:{self.now():%Y-%m-%d}",
                    f":warning: The expiry scan could not read the vault: {escape(str(exc))}.\n{exc.runbook}",
                    None, now=self.now())

    def management_client(self, vault: Vault, token: Token | None = None) -> CloudflareClient:
        """A Cloudflare client for `token`'s owner (default: the user), holding the token that manages that kind
        (management_token, or account_management_token for account-owned tokens) read from `vault`."""
        owner = self.inventory.owner(token) if token is not None else USER
        return self.cloudflare(vault.value(self.inventory.manager_name(owner)), owner)

    def owner_clients(self, vault: Vault) -> list[CloudflareClient]:
        """One management client per token list the scan reads (`Inventory.listed_owners`)."""
        return [self.cloudflare(vault.values.get(self.inventory.manager_name(owner)), owner)
                for owner in self.inventory.listed_owners]

    def freescout(self) -> FreeScoutClient:
        """The FreeScout client; SettingsError when FreeScout is not configured (revoke needs it)."""
        freescout = self.settings.freescout
        if freescout is None:
            raise SettingsError("FreeScout is not configured: revoke needs FREESCOUT_URL, FREESCOUT_API_KEY, "
                                "FREESCOUT_MAILBOX_ID and FREESCOUT_USER_ID")
        return FreeScoutClient(
            base_url=freescout.url,
            api_key=freescout.api_key,
            mailbox_id=freescout.mailbox_id,
            user_id=freescout.user_id,
            transport=self.transport,
            retry=self.retry,
        )

    def close(self) -> None:
        self.infisical.close()
        self.slack.close()
        self.pool.close()


class _Lent(httpx.BaseTransport):
    """A shared pool seen through one client: requests go to the pool; closing the client does not close it."""

    def __init__(self, pool: httpx.HTTPTransport) -> None:
        self._pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._pool.handle_request(request)

    def close(self) -> None:
        pass


_built: dict[int, Services] = {}


def process_services() -> Services:
    """This process's Services, built from the environment on first use and reused by every job after.

    Keyed by process id: a forked child never uses its parent's sockets, it builds its own.
    """
    pid = os.getpid()
    if pid not in _built:
        _built.clear()
        _built[pid] = build_services()
    return _built[pid]


def build_services(
    settings: WorkerSettings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, safe as a default
    infisical: InfisicalClient | None = None,
) -> Services:
    """Services from the environment's settings (tests pass theirs, and a no-wait retry policy; the release check
    its own logged-in Infisical client)."""
    settings = settings or load_settings(WorkerSettings)
    # records are signed with the current key, and checked with it or the previous one during a key change
    integrity.use_key(settings.cftoken_secret_key, settings.cftoken_secret_key_previous)
    conn = connect(settings.redis_url)
    pool = httpx.HTTPTransport()
    now = clock or make_clock(conn, settings.cftoken_clock_offset_key)
    seen_key = vault_seen.derive_key(settings.cftoken_secret_key)  # the bot's own writes are not "by hand"
    return Services(
        settings=settings,
        inventory=load_inventory(settings.cftoken_inventory),
        redis=conn,
        infisical=infisical or InfisicalClient(
            base_url=settings.infisical_api_url,
            client_id=settings.infisical_client_id,
            client_secret=settings.infisical_client_secret,
            project_id=settings.infisical_project_id,
            environment=settings.infisical_environment,
            secret_path=settings.infisical_secret_path,
            transport=_Lent(pool),
            retry=retry,
            login_gate=RedisLoginGate(conn),
            wall_clock=lambda: now().timestamp(),
            on_write=lambda name, value: vault_seen.remember(conn, seen_key, name, value),
        ),
        slack=SlackClient(
            base_url=settings.slack_api_url,
            token=settings.slack_bot_token,
            channel=settings.cftoken_channel_id,
            timeout=settings.slack_call_timeout,
        ),
        clock=now,
        retry=retry,
        pool=pool,
    )
