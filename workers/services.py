"""Everything a job talks to, built once per job from settings: vault, Cloudflare, FreeScout, Slack, Redis, time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis
from pydantic import SecretStr

from bot.clock import make_clock, utc_now
from bot.inventory import Inventory, load_inventory
from bot.redis_conn import connect
from bot.settings import Settings, load_settings
from workers.clients.cloudflare import CloudflareClient
from workers.clients.freescout import FreeScoutClient
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient
from workers.clients.slack import SlackClient


@dataclass
class Services:
    settings: Settings
    inventory: Inventory
    redis: redis.Redis
    infisical: InfisicalClient
    slack: SlackClient
    clock: Callable[[], datetime] = utc_now
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def now(self) -> datetime:
        return self.clock()

    def cloudflare(self, management_token: SecretStr | None = None) -> CloudflareClient:
        """A Cloudflare client; management calls need the CF_ACCESS_MGMT value read from the vault."""
        return CloudflareClient(
            base_url=self.settings.cloudflare_api_url, management_token=management_token, retry=self.retry
        )

    def freescout(self) -> FreeScoutClient:
        """The FreeScout client; SettingsError when revoke's settings are missing."""
        self.settings.require("FREESCOUT_URL", "FREESCOUT_API_KEY", "FREESCOUT_MAILBOX_ID")
        assert self.settings.freescout_url and self.settings.freescout_api_key and self.settings.freescout_mailbox_id
        return FreeScoutClient(
            base_url=self.settings.freescout_url,
            api_key=self.settings.freescout_api_key,
            mailbox_id=self.settings.freescout_mailbox_id,
            retry=self.retry,
        )

    def close(self) -> None:
        self.infisical.close()


def build_services(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, safe as a default
) -> Services:
    """Services for one job, from the environment's settings (tests pass theirs, and a no-wait retry policy)."""
    settings = settings or load_settings()
    settings.require("SLACK_BOT_TOKEN")
    assert settings.slack_bot_token is not None
    conn = connect(settings.redis_url)
    return Services(
        settings=settings,
        inventory=load_inventory(settings.cftoken_inventory),
        redis=conn,
        infisical=InfisicalClient(
            base_url=settings.infisical_api_url,
            client_id=settings.infisical_client_id,
            client_secret=settings.infisical_client_secret,
            project_id=settings.infisical_project_id,
            environment=settings.infisical_environment,
            secret_path=settings.infisical_secret_path,
            retry=retry,
        ),
        slack=SlackClient(
            base_url=settings.slack_api_url,
            token=settings.slack_bot_token,
            channel=settings.cftoken_channel_id,
        ),
        clock=clock or make_clock(conn, settings.cftoken_clock_offset_key),
        retry=retry,
    )
