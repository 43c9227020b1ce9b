"""Infisical Secret Syncs, as the bot reads and triggers them (api-contracts.md "Infisical Secret Syncs").

Listed by project only (there is no environment or path filter: the vault folder's syncs are kept here by
`environment.slug` and `folder.path`), read by id, triggered with `sync-secrets` or `remove-secrets`. A trigger is
answered `pending` at once, not with the result; 400 "A job for this sync is already in progress" means a run is on,
which is waiting, not failing. Any other answer is the service's own words in an UnexpectedResponse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from domain.errors import UnexpectedResponse
from domain.timestamps import parse_timestamp
from workers.clients.infisical import SERVICE, InfisicalClient, _describe, _field, _json

SYNCS_PATH = "/api/v1/secret-syncs"
IN_PROGRESS = "already in progress"
NAMES = {"github": "GitHub", "cloudflare-workers": "Cloudflare Workers", "cloudflare-pages": "Cloudflare Pages",
         "heroku": "Heroku", "vercel": "Vercel", "terraform-cloud": "Terraform Cloud", "gitlab": "GitLab"}


@dataclass(frozen=True)
class SecretSync:
    """One sync as Infisical last described it (statuses are None before the first run)."""

    id: str
    name: str
    destination: str
    auto_sync: bool
    environment: str | None  # None when the source folder was deleted
    path: str | None
    status: str | None  # pending | running | succeeded | failed
    synced_at: datetime | None
    message: str | None
    remove_status: str | None = None
    removed_at: datetime | None = None
    remove_message: str | None = None
    job_id: str | None = None
    target: str = ""  # what the destination config names: a repository, a Worker script, a Pages project

    @property
    def where(self) -> str:
        """e.g. "GitHub acme/site (sync gh-deploy)"."""
        kind = NAMES.get(self.destination, self.destination)
        return f"{kind} {self.target} (sync {self.name})" if self.target else f"{kind} (sync {self.name})"

    def named(self, reference: str) -> bool:
        return reference in (self.id, self.name)


def sync_from(data: Any) -> SecretSync:
    """A sync from Infisical's JSON; UnexpectedResponse when the shape is not one the bot knows."""
    try:
        environment, folder = data.get("environment"), data.get("folder")
        config = data.get("destinationConfig") or {}
        return SecretSync(
            id=str(data["id"]), name=str(data["name"]), destination=str(data["destination"]),
            auto_sync=bool(data.get("isAutoSyncEnabled", data.get("isEnabled", False))),
            environment=str(environment["slug"]) if isinstance(environment, dict) else None,
            path=str(folder["path"]) if isinstance(folder, dict) else None,
            status=data.get("syncStatus"), synced_at=parse_timestamp(data.get("lastSyncedAt")),
            message=data.get("lastSyncMessage"), remove_status=data.get("removeStatus"),
            removed_at=parse_timestamp(data.get("lastRemovedAt")), remove_message=data.get("lastRemoveMessage"),
            job_id=str(data["lastSyncJobId"]) if data.get("lastSyncJobId") is not None else None,
            target=_target(config),
        )
    except (KeyError, TypeError, AttributeError):
        raise UnexpectedResponse("infisical described a secret sync in a shape the bot does not know",
                                 service=SERVICE) from None


def _target(config: Any) -> str:
    if not isinstance(config, dict):
        return ""
    if config.get("owner") and config.get("repo"):
        return f"{config['owner']}/{config['repo']}"
    for key in ("scriptId", "projectName", "repo", "repository", "appName", "app", "project"):
        if isinstance(config.get(key), str):
            return config[key]
    return ""


class Named(Protocol):
    """What names one sync on Infisical's routes (a SecretSync, or the record of one being followed)."""

    id: str
    name: str
    destination: str


class SyncsClient:
    """The secret syncs of the vault's project, through the vault client's login."""

    def __init__(self, vault: InfisicalClient) -> None:
        self.vault = vault

    def project_syncs(self) -> list[SecretSync]:
        response = self.vault.call("GET", SYNCS_PATH, idempotent=True, params={"projectId": self.vault.project_id})
        body = self._ok(response, "listed the secret syncs")
        syncs = body.get("secretSyncs") if isinstance(body, dict) else None
        if not isinstance(syncs, list):
            raise UnexpectedResponse("infisical listed secret syncs without secretSyncs", service=SERVICE)
        return [sync_from(item) for item in syncs]

    def folder_syncs(self) -> list[SecretSync]:
        """The syncs of the vault's own folder (environment and path), named in the inventory or not."""
        return [sync for sync in self.project_syncs()
                if (sync.environment, sync.path) == (self.vault.environment, self.vault.secret_path)]

    def get(self, sync: Named) -> SecretSync:
        response = self.vault.call("GET", _one(sync), idempotent=True)
        return sync_from(self._ok(response, f"read the sync {sync.name}").get("secretSync"))

    def trigger(self, sync: Named, *, remove: bool = False) -> bool:
        """Ask for a run (`remove-secrets` with `remove`); False when one is already in progress (wait for it)."""
        response = self.vault.call("POST", f"{_one(sync)}/{'remove' if remove else 'sync'}-secrets", idempotent=False)
        if response.status_code == 400 and IN_PROGRESS in _field(response, "message"):
            return False
        self._ok(response, f"refused to run the sync {sync.name}")
        return True

    def _ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200 or not isinstance(_json(response), dict):
            raise UnexpectedResponse(_describe(response, what, None), service=SERVICE, status=response.status_code)
        return _json(response)


def _one(sync: Named) -> str:
    return f"{SYNCS_PATH}/{quote(sync.destination, safe='')}/{quote(sync.id, safe='')}"
