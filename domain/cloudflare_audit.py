"""Cloudflare's audit log entries as the bot reads and keeps them (api-contracts.md "Audit Logs v2").

`AuditEntry` is one entry flattened to what the bot shows and decides on: when, what (action, resource, zone,
method, URI, status), and who (context, email, IP, token id and name). Nothing in an entry is a token value: a
create's or update's request keeps only the name sent. `parse_entry` accepts what Cloudflare sends, missing
optional parts included, and refuses (None) an entry with no id or time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.timestamps import parse_timestamp


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    time: datetime
    action: str = ""  # create | update | delete
    result: str = "success"
    description: str = ""
    actor_context: str = ""  # api_token, dash, …
    actor_email: str | None = None
    actor_ip: str | None = None
    actor_token_id: str | None = None
    actor_token_name: str | None = None
    method: str = ""
    uri: str = ""
    status_code: int | None = None
    resource_id: str = ""
    resource_type: str = ""
    resource_product: str = ""
    name_sent: str | None = None  # the token name a create or update sent (resource.request.name)
    zone_id: str | None = None
    zone_name: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.result == "success" and (self.status_code is None or 200 <= self.status_code < 300)

    @property
    def who(self) -> str:
        """The actor as a person reads it: the email, else the token's name, else the token's id, else the context."""
        return self.actor_email or self.actor_token_name or self.actor_token_id or self.actor_context or "unknown"


def parse_entry(raw: Any) -> AuditEntry | None:
    """One entry of Cloudflare's answer, or None when it has no id or no readable time."""
    if not isinstance(raw, dict):
        return None
    part = {name: raw.get(name) if isinstance(raw.get(name), dict) else {} for name in
            ("action", "actor", "raw", "resource", "zone")}
    request = part["resource"].get("request")
    status = part["raw"].get("status_code")
    try:
        return AuditEntry(
            id=raw.get("id"), time=parse_timestamp(part["action"].get("time")),
            action=_text(part["action"].get("type")), result=_text(part["action"].get("result")) or "success",
            description=_text(part["action"].get("description")),
            actor_context=_text(part["actor"].get("context")), actor_email=part["actor"].get("email") or None,
            actor_ip=part["actor"].get("ip_address") or None, actor_token_id=part["actor"].get("token_id") or None,
            actor_token_name=part["actor"].get("token_name") or None,
            method=_text(part["raw"].get("method")).upper(), uri=_text(part["raw"].get("uri")),
            status_code=int(status) if isinstance(status, int | str) and str(status).isdigit() else None,
            resource_id=_text(part["resource"].get("id")), resource_type=_text(part["resource"].get("type")),
            resource_product=_text(part["resource"].get("product")),
            name_sent=request.get("name") if isinstance(request, dict) and isinstance(request.get("name"), str)
            else None,
            zone_id=part["zone"].get("id") or None, zone_name=part["zone"].get("name") or None)
    except (ValidationError, TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
