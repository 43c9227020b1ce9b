"""The sandbox: try the whole bot with no Slack workspace and no real tokens.

The four stand-ins seeded with the runbook's world; a Redis of its own (a `redis-server` it starts on a free
loopback port, or the embedded fakeredis when the binary is not installed), never the one at REDIS_URL; the
Procfile's real `web`, `worker` and `clock` processes pointed at them through the normal settings; and a channel
page, served by the Slack stand-in, where a person picked from the seeded team types `/cftoken …` and clicks
buttons (each reaching the bot as a signed request, exactly as Slack sends it).

    python -m sandbox.run     # prints one line with the URL and the Redis it uses; Ctrl-C stops everything

Fast-forward moves the stand-ins' clock and, through CFTOKEN_CLOCK_OFFSET_KEY in Redis, the bot's clock.
Every run starts from an empty Redis, and its data is gone when it stops.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from bot.infisical_events import PATH as INFISICAL_EVENTS
from domain.inventory import load_inventory
from domain.queueing import SCAN_JOB, job_queue
from domain.settings import DEFAULT_INVENTORY, Settings
from sandbox.channel_page import Sandbox, install
from sandbox.processes import PROCESSES, Supervisor, describe_death, free_port, process_env, read_procfile, stop_signals
from standins.redis_server import start_owned_redis
from standins.world import PROJECT_ID, World, audit_inventory_text, consumers_inventory_text

OFFSET_KEY = "cftoken:sandbox:clock-offset"
WEBHOOK_SECRET = secrets.token_hex(32)  # Infisical's secrets.modified webhook, signed per run
SCAN_INTERVAL_MINUTES = 5
STARTUP_TIMEOUT_SECONDS = 60.0


class Stopped(Exception):
    """A stop signal arrived while the sandbox was still starting."""


def sandbox_inventory(directory: Path) -> Path:
    """The inventory the sandbox runs: a person's own (CFTOKEN_INVENTORY), else the shipped one reading Cloudflare's
    audit log with the management token (account_id, audit_token), so a dashboard roll is found and named."""
    if os.environ.get("CFTOKEN_INVENTORY"):
        return Path(os.environ["CFTOKEN_INVENTORY"])
    path = directory / "inventory.toml"
    path.write_text(consumers_inventory_text(audit_inventory_text(DEFAULT_INVENTORY.read_text())))
    return path


def sandbox_env(world: World, redis_url: str, inventory: Path | None = None) -> dict[str, str]:
    """This environment minus every cftoken setting (and Socket Mode) but CFTOKEN_INVENTORY, plus the settings that
    point at the world (and the sandbox's inventory and Infisical webhook secret, when given)."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in ours}
    declared = {"cftoken_inventory": os.environ["CFTOKEN_INVENTORY"]} if os.environ.get("CFTOKEN_INVENTORY") else {}
    if inventory is not None:
        declared = {"cftoken_inventory": str(inventory), "cftoken_infisical_webhook_secret": WEBHOOK_SECRET}
    return {
        **env,
        **world.settings_env(
            redis_url=redis_url,
            cftoken_clock_offset_key=OFFSET_KEY,
            cftoken_scan_interval_minutes=str(SCAN_INTERVAL_MINUTES),
            **declared,  # a person's own inventory: tokens it declares beyond the seeded ones start unprovisioned
        ),
    }


def wait_until_healthy(url: str, supervisor: Supervisor, stop: threading.Event) -> None:
    """Poll the web process's /healthz until it answers 200; give up if a process dies or a stop signal arrives."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if stop.is_set():
                raise Stopped
            dead = supervisor.dead()
            if dead is not None:
                raise RuntimeError(describe_death(dead))
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            stop.wait(0.1)
    raise RuntimeError(f"web did not answer {url}/healthz within {STARTUP_TIMEOUT_SECONDS:.0f}s")


def run_line(url: str, redis_label: str) -> str:
    """The one line the sandbox prints: where to go, which Redis it uses, how to stop."""
    ignored = ", not REDIS_URL" if os.environ.get("REDIS_URL") else ""
    return f"cftoken sandbox: open {url}/ (Redis: {redis_label}{ignored}; Ctrl-C stops everything)"


def cli_env_file(directory: Path, env: dict[str, str]) -> Path:
    """The sandbox's cftoken settings as a file a shell can source (readable by its owner only; gone at the stop)."""
    ours = {name.upper() for name in Settings.model_fields}
    path = directory / "cftoken.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items())
                            if key in ours))
    return path


def cli_line(env_file: Path) -> str:
    """The line saying how to point the operator CLI at this sandbox."""
    return f"cftoken sandbox: to point the cftoken CLI at it: . {shlex.quote(str(env_file))} && cftoken check"


def run_sandbox(*, echo: bool = False, fakeredis: bool = False) -> int:
    """Start everything, print the URL, run until SIGINT/SIGTERM (exit 0) or until a process dies (exit 1)."""
    stop = stop_signals()
    procfile = read_procfile()
    supervisor = Supervisor(echo=echo)
    with ExitStack() as cleanup:
        try:
            directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
            inventory = sandbox_inventory(directory)
            # seeded from the shipped tokens, so a token a person's own inventory adds starts unprovisioned
            seeded = None if os.environ.get("CFTOKEN_INVENTORY") else load_inventory(inventory)
            # a random signing secret: a constant would let any page sign
            world = World.start(signing_secret=secrets.token_hex(32), inventory=seeded)
            cleanup.callback(world.stop)
            world.add_syncs()  # a GitHub repository (auto-sync) and a Cloudflare Worker (triggered by the bot)
            own_redis = start_owned_redis(fakeredis=fakeredis)
            cleanup.callback(own_redis.stop)
            redis_url = own_redis.url
            conn = redis.Redis.from_url(redis_url)
            cleanup.callback(conn.close)
            cleanup.callback(supervisor.stop)  # runs first: processes stop before the services they use
            web_port = free_port()
            web_url = f"http://127.0.0.1:{web_port}"
            env = process_env(sandbox_env(world, redis_url, inventory))
            world.infisical.webhooks.add(web_url + INFISICAL_EVENTS, secret_key=WEBHOOK_SECRET, project_id=PROJECT_ID,
                                         environment=world.environment, secret_path=world.vault_path)
            for name in PROCESSES:
                if stop.is_set():
                    raise Stopped
                # Loopback only: the sandbox is a development tool, its web must not face the network.
                command = procfile[name].replace("0.0.0.0:", "127.0.0.1:")
                supervisor.start(name, command, {**env, "PORT": str(web_port)} if name == "web" else env)
            install(Sandbox(world=world, bot_url=web_url, redis=conn, offset_key=OFFSET_KEY))
            wait_until_healthy(web_url, supervisor, stop)
            job_queue(conn).enqueue(SCAN_JOB, job_timeout=600)  # the first scan: the values the bot has seen
        except Stopped:
            return 0
        except RuntimeError as exc:
            print(f"cftoken sandbox: could not start: {exc}", file=sys.stderr, flush=True)
            return 1
        print(run_line(world.slack.url, own_redis.label), flush=True)
        print(cli_line(cli_env_file(directory, env)), flush=True)
        dead = supervisor.wait(stop)
        if dead is not None:
            print(f"cftoken sandbox: stopping everything: {describe_death(dead)}", file=sys.stderr, flush=True)
            return 1
        return 0
    return 0  # unreachable; keeps type checkers content about the return
