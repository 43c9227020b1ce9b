"""Infisical stand-in's Secret Syncs (api-contracts.md "Infisical Secret Syncs" 2.1–2.5), as strict as Infisical.

    sync = infisical.syncs.add("proj", "prod", "/cloudflare", name="gh-deploy", destination="github",
                               destination_config={"owner": "acme", "repo": "site"}, auto_sync=True)
    infisical.syncs.break_destination(sync["id"], "Request failed with status code 401")  # every attempt fails
    infisical.syncs.stall(sync["id"])      # a run starts and never ends until recover()
    infisical.syncs.recover(sync["id"])    # the destination answers again
    infisical.syncs.delivered(sync["id"])  # the values the destination holds

Routes: list by project only (`GET /api/v1/secret-syncs?projectId=`, and per destination), get by id (a UUID) and by
name, `POST …/{destination}/{id}/sync-secrets` and `…/remove-secrets` (answer at once with `pending`; a job runs it).
A job is `running` from the start of its first attempt to the end of its last: a destination that fails is retried
`attempts` times with exponential backoff from `retry_base` seconds and only the last attempt writes `failed` and
`lastSyncMessage`. While a job runs, a trigger answers 400 "A job for this sync is already in progress. Please try
again shortly.". A write to a folder starts every auto-sync of it `auto_sync_delay` seconds later (plus up to
`jitter` seconds each). Times are real seconds, set small by tests. Permission: the identity's `read` lists and gets,
its `write` stands for `sync-secrets`/`remove-secrets` (Infisical's own actions on the `secret-syncs` subject).
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from standins.base import Request, Response

if TYPE_CHECKING:
    from standins.infisical import InfisicalStandIn

NAMES = {"github": "GitHub", "cloudflare-workers": "Cloudflare Workers", "cloudflare-pages": "Cloudflare Pages",
         "heroku": "Heroku", "vercel": "Vercel", "terraform-cloud": "Terraform Cloud", "gitlab": "GitLab",
         "aws-secrets-manager": "AWS Secrets Manager", "aws-parameter-store": "AWS Parameter Store"}
IN_PROGRESS = "A job for this sync is already in progress. Please try again shortly."
FOLDER_GONE = "Invalid Secret Sync source configuration: folder no longer exists"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PREFIX = "/api/v1/secret-syncs"


class SecretSyncs:
    """The project's secret syncs and their jobs; `modified` is called by the stand-in after every write."""

    def __init__(self, standin: InfisicalStandIn) -> None:
        self.standin = standin
        self.auto_sync_delay, self.jitter, self.run_seconds = 3.0, 0.0, 0.2
        self.retry_base, self.attempts = 3.0, 5
        self._syncs: dict[str, dict[str, Any]] = {}
        self._destinations: dict[str, dict[str, Any]] = {}  # per sync: mode, message, values held, release event
        self._running: set[str] = set()
        self._jobs = 4700
        d = f"{_PREFIX}/(?P<destination>[a-z0-9-]+)"
        standin.route("GET", _PREFIX, self._guard(self._list, "read"))
        standin.route("GET", d, self._guard(self._list, "read"))
        standin.route("GET", d + "/sync-name/(?P<name>[^/]+)", self._guard(self._by_name, "read"))
        standin.route("GET", d + "/(?P<sync_id>[^/]+)", self._guard(self._get, "read"))
        standin.route("POST", d + "/(?P<sync_id>[^/]+)/sync-secrets", self._guard(self._sync, "write"))
        standin.route("POST", d + "/(?P<sync_id>[^/]+)/remove-secrets", self._guard(self._remove, "write"))

    # -- controls (tests and the sandbox world) --------------------------------------------------------------------

    def add(self, project_id: str, environment: str, path: str, *, name: str, destination: str,
            destination_config: dict[str, Any] | None = None, auto_sync: bool = True,
            connection: str = "conn") -> dict[str, Any]:
        """Make a sync of one folder (as someone would in Infisical's UI); its status is null until its first run."""
        with self.standin.lock:
            sync_id, now = str(uuid.uuid4()), self._now()
            self._syncs[sync_id] = {
                "id": sync_id, "name": name, "description": None, "destination": destination,
                "isAutoSyncEnabled": auto_sync, "version": 1, "destinationConfig": destination_config or {},
                "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "{{secretKey}}",
                                "disableSecretDeletion": False},
                "projectId": project_id, "folderId": str(uuid.uuid4()), "connectionId": str(uuid.uuid4()),
                "createdAt": now, "updatedAt": now, "syncStatus": None, "lastSyncJobId": None,
                "lastSyncMessage": None, "lastSyncedAt": None, "importStatus": None, "lastImportJobId": None,
                "lastImportMessage": None, "lastImportedAt": None, "removeStatus": None, "lastRemoveJobId": None,
                "lastRemoveMessage": None, "lastRemovedAt": None,
                "connection": {"app": destination.split("-")[0], "name": connection, "id": str(uuid.uuid4())},
                "_where": (project_id, environment, "/" + path.strip("/")),
            }
            self._destinations[sync_id] = {"mode": "ok", "message": "", "values": {}, "release": threading.Event()}
            return self.get(sync_id)

    def list(self) -> list[dict[str, Any]]:
        with self.standin.lock:
            return [self._json(sync) for sync in self._syncs.values()]

    def get(self, sync_id: str) -> dict[str, Any]:
        with self.standin.lock:
            return self._json(self._syncs[sync_id])

    def break_destination(self, sync_id: str, message: str = "Request failed with status code 401", *,
                          retryable: bool = True) -> None:
        """Every attempt fails with `message` (retried as Infisical does, or failed at once if not retryable)."""
        with self.standin.lock:
            self._destinations[sync_id].update(mode="fail" if retryable else "reject", message=message)

    def stall(self, sync_id: str) -> None:
        """A run starts and hangs (holding the sync's lock) until `recover`."""
        with self.standin.lock:
            self._destinations[sync_id]["mode"] = "stall"
            self._destinations[sync_id]["release"].clear()

    def recover(self, sync_id: str) -> None:
        with self.standin.lock:
            self._destinations[sync_id]["mode"] = "ok"
            self._destinations[sync_id]["release"].set()

    def delivered(self, sync_id: str) -> dict[str, str]:
        """What the destination holds now (the values of the last successful run)."""
        with self.standin.lock:
            return dict(self._destinations[sync_id]["values"])

    def start_run(self, sync_id: str) -> None:
        """A run Infisical starts by itself (its daily retry, an edit of the sync): queued now, no trigger call."""
        self._queue(sync_id, "sync")

    def set_auto_sync(self, sync_id: str, enabled: bool) -> None:
        with self.standin.lock:
            self._syncs[sync_id]["isAutoSyncEnabled"] = enabled

    def modified(self, project_id: str, environment: str, path: str) -> None:
        """A write to a folder: every auto-sync of it is queued after the debounce, each with its own jitter."""
        for sync in list(self._syncs.values()):
            if sync["_where"] == (project_id, environment, path) and sync["isAutoSyncEnabled"]:
                delay = self.auto_sync_delay + random.uniform(0, self.jitter)  # noqa: S311 - not crypto
                timer = threading.Timer(delay, self._queue, args=(sync["id"], "sync"))
                timer.daemon = True
                timer.start()

    # -- jobs ------------------------------------------------------------------------------------------------------

    def _now(self) -> str:
        from standins.infisical import _stamp
        return _stamp(self.standin.clock.now())

    def _queue(self, sync_id: str, kind: str) -> None:
        with self.standin.lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                return
            sync[f"{kind}Status"] = "pending"
        threading.Thread(target=self._job, args=(sync_id, kind), daemon=True).start()

    def _job(self, sync_id: str, kind: str) -> None:
        """One job: wait for the sync's lock, then attempt until success or the last attempt."""
        while True:
            with self.standin.lock:
                if sync_id not in self._running:
                    self._running.add(sync_id)
                    self._jobs += 1
                    job_id = str(self._jobs)
                    break
            time.sleep(0.05)
        try:
            for attempt in range(1, self.attempts + 1):
                done = self._attempt(sync_id, kind, job_id, last=attempt == self.attempts)
                if done:
                    return
                time.sleep(self.retry_base * 2 ** (attempt - 1))
        finally:
            with self.standin.lock:
                self._running.discard(sync_id)

    def _attempt(self, sync_id: str, kind: str, job_id: str, *, last: bool) -> bool:
        """One attempt; True when the job is over (succeeded, or failed for good)."""
        with self.standin.lock:
            sync, destination = self._syncs[sync_id], self._destinations[sync_id]
            sync[f"{kind}Status"] = "running"
            prefix = "Sync" if kind == "sync" else "Remove"
            sync[f"last{prefix}JobId"] = job_id
        time.sleep(self.run_seconds)
        if destination["mode"] == "stall":
            destination["release"].wait()
        with self.standin.lock:
            values = self._folder_values(sync)
            mode, message = destination["mode"], destination["message"]
            if values is None:
                mode, message = "reject", FOLDER_GONE
            if mode == "ok":
                if kind == "sync":
                    destination["values"] = dict(values)
                else:
                    destination["values"] = {}
                sync.update({f"{kind}Status": "succeeded", f"last{prefix}Message": None,
                             f"last{'Synced' if kind == 'sync' else 'Removed'}At": self._now()})
                return True
            if mode == "fail" and not last:
                return False  # Infisical rethrows: the row still says running until the last attempt
            sync.update({f"{kind}Status": "failed", f"last{prefix}Message": message})
            return True

    def _folder_values(self, sync: dict[str, Any]) -> dict[str, str] | None:
        folder = self.standin._folders.get(sync["_where"])
        return None if folder is None else {name: rec["values"][-1] for name, rec in folder.items()}

    # -- routes ----------------------------------------------------------------------------------------------------

    def _json(self, sync: dict[str, Any]) -> dict[str, Any]:
        project, environment, path = sync["_where"]
        exists = self.standin.folder_exists(project, environment, path)
        public = {key: value for key, value in sync.items() if not key.startswith("_")}
        public["environment"] = {"slug": environment, "name": environment.title(), "id": f"env-{environment}"} \
            if exists else None
        public["folder"] = {"id": sync["folderId"], "path": path} if exists else None
        return public

    def _guard(self, handler: Any, permission: str) -> Any:
        from standins.infisical import _error, _Refusal

        def guarded(request: Request) -> Response:
            destination = request.params.get("destination")
            if destination is not None and destination not in NAMES:
                return self.standin.not_found(request)  # no router for it
            try:
                identity = self.standin._identity(request)
                if not getattr(identity, permission):
                    action = "read" if permission == "read" else "sync-secrets"
                    return _error(403, "PermissionDenied", f"You are not allowed to {action} on secret-syncs",
                                  details=[{"action": action, "subject": "secret-syncs"}])
                return handler(identity, request)
            except _Refusal as refusal:
                return refusal.response

        return guarded

    def _list(self, identity: Any, request: Request) -> Response:
        from standins.infisical import _error, _required
        project = request.arg("projectId")
        if not project:
            return _error(422, "ValidationFailure", [_required("projectId")])
        if project != identity.project:
            return _error(403, "PermissionDenied", "You are not allowed to access this project")
        destination = request.params.get("destination")
        found = [self._json(sync) for sync in self._syncs.values() if sync["projectId"] == project
                 and destination in (None, sync["destination"])]
        return Response(200, {"secretSyncs": found})

    def _by_name(self, identity: Any, request: Request) -> Response:
        from standins.infisical import _error
        destination, name = request.params["destination"], request.params["name"]
        project = request.arg("projectId")
        for sync in self._syncs.values():
            if (sync["name"], sync["projectId"], sync["destination"]) == (name, project, destination):
                return Response(200, {"secretSync": self._json(sync)})
        return _error(404, "NotFound", f'Could not find {NAMES[destination]} Sync with name "{name}"')

    def _found(self, identity: Any, request: Request) -> dict[str, Any] | Response:
        """The sync the path names, or Infisical's refusal (422 not a UUID, 404, 403, 400 other destination)."""
        from standins.infisical import _error
        destination, sync_id = request.params["destination"], request.params["sync_id"]
        if not _UUID.match(sync_id):
            return _error(422, "ValidationFailure", [{"validation": "uuid", "code": "invalid_string",
                                                      "message": "Invalid uuid", "path": ["syncId"]}])
        sync = self._syncs.get(sync_id)
        if sync is None:
            return _error(404, "NotFound", f'Could not find {NAMES[destination]} Sync with ID "{sync_id}"')
        if sync["projectId"] != identity.project:
            return _error(403, "PermissionDenied", "You are not allowed to access this project")
        if sync["destination"] != destination:
            return _error(400, "BadRequest", f'Secret sync with ID "{sync_id}" is not configured for '
                                             f"{NAMES[destination]}")
        return sync

    def _get(self, identity: Any, request: Request) -> Response:
        sync = self._found(identity, request)
        return sync if isinstance(sync, Response) else Response(200, {"secretSync": self._json(sync)})

    def _trigger(self, identity: Any, request: Request, kind: str) -> Response:
        from standins.infisical import _error
        sync = self._found(identity, request)
        if isinstance(sync, Response):
            return sync
        if not self.standin.folder_exists(*sync["_where"]):
            return _error(400, "BadRequest", "Invalid source configuration: folder no longer exists")
        if sync["id"] in self._running:
            return _error(400, "BadRequest", IN_PROGRESS)
        self._queue(sync["id"], kind)
        return Response(200, {"secretSync": self._json(sync)})

    def _sync(self, identity: Any, request: Request) -> Response:
        return self._trigger(identity, request, "sync")

    def _remove(self, identity: Any, request: Request) -> Response:
        return self._trigger(identity, request, "remove")
