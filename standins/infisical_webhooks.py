"""Infisical stand-in's webhooks (api-contracts.md "Infisical webhooks"): a `secrets.modified` event, signed as the
real one, sent a few seconds after a write to a folder a hook's glob matches.

    hook = infisical.webhooks.add(url + "/infisical/events", secret_key="…", project_id=…, environment="prod",
                                  secret_path="/MooseQuest/**")
    hook.mode = "unsigned" | "late" | "twice"    # misbehave: no signature, a timestamp 6 minutes old, sent twice
    hook.send_now(environment, path)            # on demand, as the dashboard's "test" would
    hook.deliveries                             # (status, body) of each attempt

The body is `{"event": "secrets.modified", "project": {"workspaceId", "projectId", "projectName", "environment",
"secretPath"}, "timestamp": <ms>}` — environmentName, changedBy and changedByActorType are left out, as the standard
queue path drops them. The signature is `t=<timestamp>;<hex HMAC-SHA256(secret_key, JSON body)>`, only when the hook
has a secret key. One attempt per event (Infisical retries 5 times; the bot must not need it).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field

import httpx

MODES = ("signed", "unsigned", "late", "twice")


@dataclass
class Hook:
    url: str
    secret_key: str | None
    project_id: str
    environment: str
    secret_path: str  # a glob, as Infisical's picomatch
    delay: float = 2.0
    mode: str = "signed"
    deliveries: list[tuple[int, str]] = field(default_factory=list)

    def matches(self, project_id: str, environment: str, path: str) -> bool:
        return (project_id, environment) == (self.project_id, self.environment) and \
            fnmatch.fnmatchcase(path, self.secret_path)

    def send_now(self, environment: str, path: str) -> None:
        """Send the event at once (as the real one would after a write), in this hook's mode."""
        stamp = int(time.time() * 1000) - (6 * 60 * 1000 if self.mode == "late" else 0)
        body = json.dumps({"event": "secrets.modified", "project": {
            "workspaceId": self.project_id, "projectId": self.project_id, "projectName": "infra",
            "environment": environment, "secretPath": path}, "timestamp": stamp}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret_key and self.mode != "unsigned":
            signature = hmac.new(self.secret_key.encode(), body, hashlib.sha256).hexdigest()
            headers["x-infisical-signature"] = f"t={stamp};{signature}"
        for _ in range(2 if self.mode == "twice" else 1):
            try:
                answer = httpx.post(self.url, content=body, headers=headers, timeout=15)
                self.deliveries.append((answer.status_code, answer.text))
            except httpx.HTTPError as exc:
                self.deliveries.append((0, type(exc).__name__))


class Webhooks:
    """The project's webhooks; `modified` is called by the stand-in after every write."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []

    def add(self, url: str, *, secret_key: str | None, project_id: str, environment: str, secret_path: str,
            delay: float = 2.0) -> Hook:
        hook = Hook(url, secret_key, project_id, environment, secret_path, delay)
        self.hooks.append(hook)
        return hook

    def modified(self, project_id: str, environment: str, path: str) -> None:
        for hook in self.hooks:
            if hook.matches(project_id, environment, path):
                timer = threading.Timer(hook.delay, hook.send_now, args=(environment, path))
                timer.daemon = True
                timer.start()
