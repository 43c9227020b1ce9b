"""Typed settings per process, read from the environment under DESIGN.md's names; constructor arguments win.

    RedisSettings       Redis alone (`cftoken scan`)
    SourceSettings      the vault and Cloudflare (`cftoken inventory import/diff`)
    CommonSettings      what every process reads: the channel, Redis, the inventory, time, the secret key
                        (CFTOKEN_SECRET_KEY: sealing and the request records' integrity tags)
    ├── WebSettings     the web: Slack's credentials and who may approve; no vault or FreeScout credentials
    │                   (FREESCOUT_URL only says whether revoke can be asked for)
    ├── WorkerSettings  the worker and `cftoken reconcile` (with SourceSettings): Slack to post, the vault, Cloudflare,
    │                   FreeScout (all four FREESCOUT_* or none: revoke needs them); never the signing secret
    └── Settings        both at once: what `cftoken check` validates and what tests build

Each process loads its own class at start (`load_settings(WebSettings)`), so a missing or malformed setting stops
it with one line naming every problem, before any request or job can fail on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import SettingsError
from domain.redis_conn import redis_url_problem

DEFAULT_INVENTORY = Path(__file__).with_name("inventory.toml")
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_APP_ID = re.compile(r"^A[A-Z0-9]{2,}$")  # Slack app ids: A0123ABCDEF
MIN_SECRET_CHARACTERS = 32
FREESCOUT_NAMES = ("FREESCOUT_URL", "FREESCOUT_API_KEY", "FREESCOUT_MAILBOX_ID", "FREESCOUT_USER_ID")


class FreeScout(BaseModel):
    """The FreeScout settings, complete: where incident tickets go and which user writes their notes."""

    url: str
    api_key: SecretStr
    mailbox_id: int
    user_id: int


class RedisSettings(BaseSettings):
    """Redis alone: what `cftoken scan` needs to enqueue a scan."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        problem = redis_url_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class SourceSettings(BaseSettings):
    """The vault and Cloudflare, read with the management token: what `cftoken inventory import/diff` need."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    cftoken_inventory: Path = DEFAULT_INVENTORY
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"

    infisical_api_url: str = "https://app.infisical.com"
    infisical_client_id: str
    infisical_client_secret: SecretStr
    infisical_project_id: str
    infisical_environment: str = "prod"
    infisical_secret_path: str = "/MooseQuest/cloudflare"

    @field_validator("cloudflare_api_url", "infisical_api_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")


class CommonSettings(RedisSettings):
    """What every process reads."""

    slack_api_url: str = "https://slack.com/api/"
    cftoken_channel_id: str
    cftoken_secret_key: SecretStr  # seals a rolled value; the integrity tags' key is derived from it
    # while CFTOKEN_SECRET_KEY is being changed: the old value, accepted for reading (tags, sealed values) only
    cftoken_secret_key_previous: SecretStr | None = None
    cftoken_inventory: Path = DEFAULT_INVENTORY
    cftoken_scan_interval_minutes: int = Field(default=60, ge=1, le=24 * 60)
    cftoken_clock_offset_key: str | None = None  # sandbox only: Redis key holding a time shift in seconds
    # how long a deliverer's claim on a conversation outlives it (worker and clock); each Slack call gets half of it
    cftoken_outbox_lease_seconds: int = Field(default=20, ge=2, le=300)
    # not a credential: the web reads only whether it is set, to refuse when asked a revoke it could not carry out
    freescout_url: str | None = None

    @property
    def slack_call_timeout(self) -> float:
        """A Slack call never outlasts the deliverer's lease, so no other deliverer can take over mid-call."""
        return min(10.0, self.cftoken_outbox_lease_seconds / 2)

    @field_validator("cftoken_channel_id")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        value = value.strip()
        if not _CHANNEL_ID.match(value):
            raise ValueError("expected a Slack channel ID such as C0123ABCD")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("freescout_url")
    @classmethod
    def _freescout_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("cftoken_secret_key", "cftoken_secret_key_previous")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARACTERS:
            raise ValueError(f"expected a random secret of at least {MIN_SECRET_CHARACTERS} characters")
        return value


class WebSettings(CommonSettings):
    """The web process: verify Slack's requests, authorize, record and enqueue."""

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_app_id: str | None = None  # when set, requests for any other app (api_app_id) are refused
    cftoken_approvers: str
    cftoken_request_ttl_minutes: int = Field(default=30, ge=1, le=24 * 60)
    cftoken_roll_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_revoke_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_provision_approvals: int = Field(default=1, ge=1, le=5)
    cftoken_metrics_token: SecretStr | None = None  # set it to serve GET /metrics behind this bearer token
    cftoken_infisical_webhook_secret: SecretStr | None = None  # set it to serve POST /infisical/events

    @field_validator("slack_app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        if value is not None and not _APP_ID.match(value.strip()):
            raise ValueError("expected the app's ID such as A0123ABCDEF (Basic Information → App ID)")
        return value.strip() if value is not None else None

    @field_validator("cftoken_metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARACTERS:
            raise ValueError(f"expected a random bearer secret of at least {MIN_SECRET_CHARACTERS} characters "
                             "(e.g. `openssl rand -hex 32`)")
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

    @model_validator(mode="after")
    def _verifiable(self) -> WebSettings:
        if self.slack_signing_secret is None and self.slack_app_token is None:
            raise ValueError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified without it "
                             "(or set SLACK_APP_TOKEN for Socket Mode)")
        return self

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(self.cftoken_approvers.split(","))

    def approvals_needed(self, action: str) -> int:
        return {"roll": self.cftoken_roll_approvals, "revoke": self.cftoken_revoke_approvals,
                "provision": self.cftoken_provision_approvals}[action]


class WorkerSettings(CommonSettings, SourceSettings):
    """The worker process: post to Slack, read and write the vault, call Cloudflare, open FreeScout tickets."""

    slack_bot_token: SecretStr
    cftoken_warn_days: str = "14,7,3,1"
    cftoken_lock_seconds: int = Field(default=120, ge=1, le=3600)
    cftoken_value_check_hours: int = Field(default=24, ge=0, le=24 * 30)  # 0: the scan never verifies values
    cftoken_cloudflare_budget: int = Field(default=120, ge=1, le=1200)  # the bot's requests per 5 minutes
    cftoken_audit_days: int = Field(default=30, ge=1, le=540)  # days of Cloudflare's audit log a revoke shows

    freescout_api_key: SecretStr | None = None
    freescout_mailbox_id: int | None = None
    freescout_user_id: int | None = None

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

    @field_validator("freescout_mailbox_id", "freescout_user_id")
    @classmethod
    def _positive_id(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("expected a FreeScout id (a whole number ≥ 1)")
        return value

    @model_validator(mode="after")
    def _freescout_whole(self) -> WorkerSettings:
        missing = [name for name in FREESCOUT_NAMES if getattr(self, name.lower()) is None]
        if missing and len(missing) < len(FREESCOUT_NAMES):
            raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: FreeScout needs "
                             f"all of {', '.join(FREESCOUT_NAMES)} (revoke opens its incident ticket with them)")
        return self

    @property
    def warn_days(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.cftoken_warn_days.split(","))

    @property
    def freescout(self) -> FreeScout | None:
        """The complete FreeScout settings, or None when FreeScout is not configured (revoke is then refused)."""
        if self.freescout_url is None or self.freescout_api_key is None or self.freescout_mailbox_id is None \
                or self.freescout_user_id is None:
            return None
        return FreeScout(url=self.freescout_url, api_key=self.freescout_api_key,
                         mailbox_id=self.freescout_mailbox_id, user_id=self.freescout_user_id)


class ClockSettings(CommonSettings):
    """The clock process: it schedules jobs, and delivers the Slack outbox when it has the bot token."""

    slack_bot_token: SecretStr | None = None


class Settings(WebSettings, WorkerSettings):
    """Every process's settings together: what `cftoken check` validates and what tests build."""


AnySettings = TypeVar("AnySettings", bound=CommonSettings)


def load_settings(kind: type[AnySettings] = Settings, **overrides: object) -> AnySettings:  # type: ignore[assignment]
    """Build one process's settings, turning pydantic's report into one line naming every problem."""
    try:
        return kind(**overrides)
    except ValidationError as exc:
        problems = tuple(describe(exc))
        raise SettingsError("; ".join(problems), problems=problems) from None


def settings_problems(kind: type[CommonSettings] = Settings, **overrides: object) -> list[str]:
    """Every problem with `kind`'s settings, one line each; empty when they load."""
    try:
        kind(**overrides)
    except ValidationError as exc:
        return describe(exc)
    return []


def describe(exc: ValidationError) -> list[str]:
    """One line per pydantic error, naming the variable and what to do."""
    return [_line(error) for error in exc.errors()]


def _line(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # a whole-model check: its message names the variables itself
        return message
    name = str(error["loc"][0]).upper()
    if error["type"] == "missing":
        return f"{name} is not set: see README 'Configuration'"
    return f"{name} is malformed: {message}"
