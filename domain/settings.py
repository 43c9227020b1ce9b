"""Typed settings, read from the environment under DESIGN.md's names; constructor arguments win."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import SettingsError

DEFAULT_INVENTORY = Path(__file__).with_name("inventory.toml")
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_app_id: str | None = None  # when set, requests for any other app (api_app_id) are refused
    slack_api_url: str = "https://slack.com/api/"

    cftoken_channel_id: str
    cftoken_approvers: str
    cftoken_secret_key: SecretStr
    cftoken_inventory: Path = DEFAULT_INVENTORY
    cftoken_request_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    cftoken_roll_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_revoke_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_provision_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_warn_days: str = "14,7,3,1"
    cftoken_scan_interval_minutes: int = Field(default=60, ge=1, le=24 * 60)
    cftoken_value_check_hours: int = Field(default=24, ge=0, le=24 * 30)  # 0: the scan never verifies values
    cftoken_cloudflare_budget: int = Field(default=120, ge=1, le=1200)  # the bot's requests per 5 minutes
    cftoken_metrics_token: SecretStr | None = None  # set it to serve GET /metrics behind this bearer token
    cftoken_lock_seconds: int = Field(default=120, ge=1, le=3600)
    cftoken_clock_offset_key: str | None = None  # sandbox only: Redis key holding a time shift in seconds

    redis_url: str = "redis://localhost:6379/0"

    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"

    infisical_api_url: str = "https://app.infisical.com"
    infisical_client_id: str
    infisical_client_secret: SecretStr
    infisical_project_id: str
    infisical_environment: str = "prod"
    infisical_secret_path: str = "/MooseQuest/cloudflare"

    freescout_url: str | None = None
    freescout_api_key: SecretStr | None = None
    freescout_mailbox_id: int | None = None

    @field_validator("cftoken_channel_id")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        value = value.strip()
        if not _CHANNEL_ID.match(value):
            raise ValueError("expected a Slack channel ID such as C0123ABCD")
        return value

    @field_validator("cftoken_approvers")
    @classmethod
    def _approvers(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if not ids:
            raise ValueError("expected comma-separated Slack user IDs (U…) or a user-group ID (S…)")
        bad = [i for i in ids if not _SLACK_ID.match(i)]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not a Slack user ID (U…/W…) or user-group ID (S…)")
        return ",".join(ids)

    @field_validator("cftoken_warn_days")
    @classmethod
    def _warn_days(cls, value: str) -> str:
        try:
            days = sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True)
        except ValueError:
            raise ValueError("expected comma-separated whole numbers of days, e.g. 14,7,3,1") from None
        if not days or days[-1] < 1:
            raise ValueError("expected comma-separated whole numbers of days ≥ 1, e.g. 14,7,3,1")
        return ",".join(str(d) for d in days)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("cloudflare_api_url", "infisical_api_url", "freescout_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("cftoken_secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("expected a random secret of at least 32 characters")
        return value

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(self.cftoken_approvers.split(","))

    @property
    def warn_days(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.cftoken_warn_days.split(","))

    @property
    def sandbox(self) -> bool:
        """No Slack credentials: the local sandbox runs instead of a real workspace."""
        return self.slack_bot_token is None

    def approvals_needed(self, action: str) -> int:
        return {"roll": self.cftoken_roll_approvals, "revoke": self.cftoken_revoke_approvals,
                "provision": self.cftoken_provision_approvals}[action]

    def require(self, *names: str) -> None:
        """Raise SettingsError naming the first of `names` that is unset (for per-action requirements)."""
        for name in names:
            if getattr(self, name.lower()) is None:
                raise SettingsError(f"{name.upper()} is not set: it is required for this operation")


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's report into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        if error["type"] == "missing":
            raise SettingsError(f"{name} is not set: see README 'Configuration'") from None
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is malformed: {message}") from None
