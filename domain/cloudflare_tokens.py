"""Cloudflare's records as the bot reads them: tokens, policies, verify answers, permission groups, zones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PermissionGroupRef(_Model):
    id: str
    name: str | None = None


class Policy(_Model):
    id: str | None = None
    effect: str
    resources: dict[str, Any]
    permission_groups: list[PermissionGroupRef]


class CfToken(_Model):
    id: str
    name: str
    status: str
    issued_on: datetime | None = None
    modified_on: datetime | None = None
    last_used_on: datetime | None = None
    not_before: datetime | None = None
    expires_on: datetime | None = None
    policies: list[Policy] = []
    condition: dict[str, Any] | None = None
    creator_email_at_creation: str | None = None  # account-owned tokens only, where Cloudflare knew the creator
    provisioner_type: str | None = None  # account-owned tokens made by a provisioning service (an open string)


class Verification(_Model):
    id: str
    status: str
    not_before: datetime | None = None
    expires_on: datetime | None = None


class PermissionGroup(_Model):
    id: str
    name: str
    scopes: list[str] = []


class ZoneAccount(_Model):
    id: str
    name: str | None = None


class Zone(_Model):
    id: str
    name: str
    status: str | None = None
    account: ZoneAccount | None = None
