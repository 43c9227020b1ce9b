"""Arrangements for the provisioning tests: an inventory declaring a new token, the web app on the world's
stand-ins (signed commands and clicks), and real `rq worker` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Executor, Future
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.app import build_bolt_app
from domain.inventory import load_inventory
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.base import WAIT_CEILING
from standins.slack import Message
from standins.slack_requests import command_answer, slash_command
from standins.world import CHANNEL, SIGNING_SECRET, World
from tests.conftest import make_settings
from workers.clients.slack import SlackClient
from workers.delivery import Delivery

NEW = "CF_DNS_EDIT_RAXX_IO"
RAXX_IO = "f3d1b89d86d1aa63a003f2826a8f841c"
DNS_WRITE, ZONE_READ = "4755a26eedb94da69e1066d98aa820be", "c8fed203ed3043cba015a93ad1616f1f"
RQ = str(Path(sys.executable).with_name("rq"))
DECLARATION = f'''
[[tokens]]
name = "{NEW}"
scope = "Zone:DNS:Edit, Zone:Zone:Read"
zones = ["raxx.io"]
permissions = ["DNS Write", "Zone Read"]
cadence_days = 90
unblocks = "raxx.io DNS automation"
consumers = [
  {{ who = "Terraform (raxx.io)", how = "DNS records for raxx.io" }},
]
'''


ACCOUNT_DECLARATION = DECLARATION.replace(f'name = "{NEW}"\n', f'name = "{NEW}"\nowner = "account"\n')


def declare(tmp_path: Path, declaration: str = DECLARATION) -> Path:
    """The shipped inventory plus one more token, as a person would add it."""
    path = tmp_path / "inventory.toml"
    path.write_text(Path(DEFAULT_INVENTORY).read_text(encoding="utf-8") + declaration, encoding="utf-8")
    load_inventory(path)  # it must load, as `cftoken check` would say
    return path


class InlineExecutor(Executor):
    """Runs each listener to completion inside dispatch(), so a test reads a settled channel."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class Channel:
    """The web process's Bolt app on the world: people type and click, the test reads the channel."""

    def __init__(self, world: World, conn: redis.Redis, redis_url: str, inventory: Path) -> None:
        self.world, self.redis, self.inventory = world, conn, inventory
        settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_inventory=str(inventory))
        client = WebClient(base_url=world.slack.url + "/api/", token=world.slack.bot_token)
        self.app = build_bolt_app(settings, conn, job_queue(conn), load_inventory(inventory), client,
                                  clock=world.clock.now, listener_executor=InlineExecutor())
        self.approvers = settings.approvers

    def deliver(self) -> None:
        """What a worker's outbox thread does after each request: the channel catches up."""
        poster = SlackClient(base_url=self.world.slack.url + "/api/", token=SecretStr(self.world.slack.bot_token),
                             channel=CHANNEL)
        try:
            outbox = Delivery(self.redis, poster, load_inventory(self.inventory),
                              clock=self.world.clock.now)
            assert outbox.drain(timeout=WAIT_CEILING), "the outbox did not empty"
        finally:
            poster.close()

    def type(self, text: str, *, user: str) -> str:
        """Send `/cftoken text` as Slack does; the answer only `user` sees (or "")."""
        body, headers = slash_command(signing_secret=SIGNING_SECRET, text=text, user_id=user, channel_id=CHANNEL,
                                      response_url=self.world.slack.new_response_url(user, CHANNEL))
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        self.deliver()
        answer = command_answer(response.body) if response.status == 200 else None
        if answer is None:
            return ""
        httpx.post(self.world.slack.new_response_url(user, CHANNEL), json=answer).raise_for_status()
        return self.world.slack.as_text(self.world.slack.messages(CHANNEL, visible_to=user)[-1])

    def click(self, action_id: str, message: Message, *, user: str) -> None:
        current = self.world.slack.message(message.channel, message.ts)
        value = next(e["value"] for b in current.blocks for e in b.get("elements", []) if e.get("action_id") == action_id)
        body, headers = self.world.signed_click(action_id, value, user=user, message_ts=message.ts)
        assert self.app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
        self.deliver()

    def public(self) -> list[Message]:
        """What the channel shows (threads folded away)."""
        return [m for m in self.world.slack.messages(CHANNEL, include_threads=False) if not m.ephemeral_for]

    def read(self, message: Message) -> str:
        return self.world.slack.as_text(self.world.slack.message(message.channel, message.ts))

    def results(self, prefix: str) -> list[str]:
        everything = [m for m in self.world.slack.messages(CHANNEL) if not m.ephemeral_for]  # threads included
        return [self.world.slack.as_text(m) for m in everything if m.text.startswith(prefix)]


def start_worker(world: World, redis_url: str, inventory: Path, **env: str) -> subprocess.Popen:
    """The Procfile's worker (burst: it stops when the queue is empty), on the world, with `inventory`."""
    environment = {**os.environ, **world.settings_env(redis_url=redis_url, cftoken_inventory=str(inventory), **env)}
    command = [RQ, "worker", "--config", "workers.rq_settings", "--worker-class", "workers.worker.CftokenWorker",
               "--burst", "default"]
    return subprocess.Popen(command, env=environment, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run_worker(world: World, redis_url: str, inventory: Path, **env: str) -> str:
    """Run a burst worker to the end; its output (for the assertion message)."""
    worker = start_worker(world, redis_url, inventory, **env)
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output
    return output


def live_tokens(world: World, name: str) -> list[dict]:
    return [token for token in world.cloudflare.tokens() if token["name"] == name and token["status"] == "active"]
