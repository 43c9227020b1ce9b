"""`cftoken check`: the deploy's pre-flight, one line per problem. Offline: the settings of both processes (every
problem, not only the first), the inventory, and what a missing optional setting turns off. Live: Redis, Slack
(`auth.test`, the bot in the channel, every approver: workers/cli/approvers_check.py), Infisical (login and the
folder), the management token (active, and allowed to write tokens), FreeScout (the mailbox and the note author),
each with the credentials the bot uses.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from domain.errors import CftokenError, NotAuthorized, VaultFolderMissing
from domain.inventory import Inventory, InventoryError, load_inventory
from domain.redis_conn import connect, redis_down
from domain.settings import Settings, WebSettings, WorkerSettings, settings_problems
from domain.token_owner import USER, TokenOwner
from domain.vault import pin_drift, pin_fix
from workers.cli.approvers_check import approvers_check
from workers.clients.cloudflare import CloudflareClient
from workers.clients.freescout import FreeScoutClient
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient

TIMEOUT = 5.0  # seconds per request: a pre-flight reports a silent service, it does not wait it out
RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, max_retry_after=2.0, total_budget=5.0)


def settings_check(**overrides: object) -> list[str]:
    """Every problem with the web's and the worker's settings (a variable both read is named once)."""
    problems = settings_problems(WebSettings, **overrides) + settings_problems(WorkerSettings, **overrides)
    return list(dict.fromkeys(problems))


def offline_check(settings: Settings) -> tuple[Inventory | None, list[str]]:
    """The inventory, and the problems that need no network: the inventory file, its agreement with the
    settings, and the commands a missing optional setting disables."""
    problems = []
    if settings.freescout is None:
        problems.append("FREESCOUT_URL, FREESCOUT_API_KEY, FREESCOUT_MAILBOX_ID and FREESCOUT_USER_ID are not set: "
                        "/cftoken revoke will refuse to run")
    try:
        inventory = load_inventory(settings.cftoken_inventory)
    except InventoryError as exc:
        return None, [str(exc), *problems]
    for token in inventory.tokens:
        if token.rotation == "overlap" and token.token_id:
            problems.append(f'{token.name} uses rotation = "overlap", which gives it a new id at every rotation, but '
                            f"the inventory pins token_id = \"{token.token_id}\": remove it (the bot reads "
                            f"{token.name}__TOKEN_ID)")
    if inventory.vault.path != settings.infisical_secret_path:
        problems.insert(0, f"INFISICAL_SECRET_PATH is {settings.infisical_secret_path} but the inventory says "
                           f"{inventory.vault.path}: make them agree")
    if inventory.vault.environment != settings.infisical_environment:
        problems.insert(0, f"INFISICAL_ENVIRONMENT is {settings.infisical_environment} but the inventory says "
                           f"{inventory.vault.environment}: make them agree")
    return inventory, problems


def live_check(settings: Settings, inventory: Inventory, vault_client: InfisicalClient | None = None) -> list[str]:
    """Every service the bot depends on, asked with the bot's own credentials (Infisical through `vault_client`
    when given, so one login serves the whole check: each counts against the client secret's use limit)."""
    slack_problems = slack_check(settings)
    problems = redis_check(settings.redis_url) + slack_problems + app_token_check(settings)
    if not slack_problems:  # with a bot token Slack refuses, every approver would be reported too
        problems += approvers_check(settings, inventory, slack_client(settings))
    vault, vault_problems = vault_check(settings, inventory, vault_client)
    problems += vault_problems
    if vault is not None:
        problems += pin_check(inventory, vault)
        problems += management_check(settings, inventory, vault)
    else:
        problems.append(f"the management token {inventory.management_token} was not checked: the vault could not "
                        "give its value")
    return problems + freescout_check(settings)


def redis_check(url: str) -> list[str]:
    conn = connect(url, socket_timeout=TIMEOUT)
    try:
        conn.ping()
    except redis.RedisError:
        return [redis_down(url)]
    finally:
        conn.close()
    return []


def slack_client(settings: Settings) -> WebClient:
    return WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url,
                     timeout=int(TIMEOUT))


def slack_check(settings: Settings) -> list[str]:
    """The bot token works (auth.test) and the bot is in CFTOKEN_CHANNEL_ID (conversations.info)."""
    client = slack_client(settings)
    channel = settings.cftoken_channel_id
    try:
        client.auth_test()
    except SlackApiError as exc:
        return [f"Slack refused SLACK_BOT_TOKEN (auth.test: {_slack_code(exc)}): copy the Bot User OAuth Token again"]
    except OSError as exc:
        return [f"Slack did not answer at SLACK_API_URL {settings.slack_api_url} ({type(exc).__name__})"]
    try:
        info = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        code = _slack_code(exc)
        if code == "missing_scope":
            return ["the bot token lacks channels:read and groups:read (conversations.info: missing_scope): "
                    "reinstall the app from slack-app-manifest.yml"]
        return [f"Slack cannot see CFTOKEN_CHANNEL_ID {channel} (conversations.info: {code}): check the ID, "
                "and for a private channel invite the bot (/invite @cftoken)"]
    except OSError as exc:
        return [f"Slack did not answer conversations.info ({type(exc).__name__})"]
    if not (info.get("channel") or {}).get("is_member"):
        return [f"the bot is not in CFTOKEN_CHANNEL_ID {channel}: /invite @cftoken in that channel"]
    return []


def app_token_check(settings: Settings) -> list[str]:
    """With SLACK_APP_TOKEN set, Slack opens a Socket Mode connection for it (apps.connections.open answers ok;
    the URL it hands out is not used)."""
    if settings.slack_app_token is None:
        return []
    client = WebClient(base_url=settings.slack_api_url, timeout=int(TIMEOUT))
    try:
        client.apps_connections_open(app_token=settings.slack_app_token.get_secret_value())
    except SlackApiError as exc:
        return [f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {_slack_code(exc)}): copy the App-Level "
                "Token (xapp-…, scope connections:write, Basic Information) again, turn Socket Mode on, or unset it"]
    except OSError as exc:
        return [f"Slack did not answer apps.connections.open for SLACK_APP_TOKEN ({type(exc).__name__})"]
    return []


def vault_client(settings: Settings) -> InfisicalClient:
    """The machine identity's Infisical client with the pre-flight's short timeouts."""
    return InfisicalClient(
        base_url=settings.infisical_api_url, client_id=settings.infisical_client_id,
        client_secret=settings.infisical_client_secret, project_id=settings.infisical_project_id,
        environment=settings.infisical_environment, secret_path=settings.infisical_secret_path,
        timeout=TIMEOUT, retry=RETRY,
    )


def vault_check(settings: Settings, inventory: Inventory, client: InfisicalClient | None = None
                ) -> tuple[dict[str, SecretStr] | None, list[str]]:
    """Log in as the machine identity and list the folder; the folder's values, or None when unreadable."""
    where = f"{settings.infisical_secret_path} ({settings.infisical_environment})"
    own = client is None
    client = client or vault_client(settings)
    try:
        folder = client.list_folder()
        if not folder:  # Infisical lists a folder or environment that does not exist as empty
            client.confirm_folder(inventory.management_token)
    except VaultFolderMissing as exc:
        return None, [f"Infisical: {exc}: check INFISICAL_SECRET_PATH ({settings.infisical_secret_path}) and "
                      f"INFISICAL_ENVIRONMENT ({settings.infisical_environment}), or create the folder"]
    except CftokenError as exc:
        return None, [f"Infisical: cannot list the vault folder {where}: {exc}"]
    finally:
        if own:
            client.close()
    missing = [name for name in inventory.names if name not in folder]
    if inventory.management_token in missing:
        return None, [f"{inventory.management_token} (the management token) is not in the vault at {where}"]
    if missing:
        return folder, [f"the vault at {where} lacks {len(missing)} of the inventory's tokens: {', '.join(missing)}"]
    return folder, []


def pin_check(inventory: Inventory, folder: dict[str, SecretStr]) -> list[str]:
    """Each inventory token_id pin that disagrees with the vault's __TOKEN_ID (the id the bot uses), and the fix."""
    problems = []
    for token in inventory.tokens:
        stored = folder.get(token.companion("__TOKEN_ID"))
        text = stored.get_secret_value().strip() if stored is not None else None
        drift = pin_drift(token, text)
        if drift and text:
            problems.append(f"{token.name}: {drift}: {pin_fix(token, text)}")
    return problems


def management_check(settings: Settings, inventory: Inventory, folder: dict[str, SecretStr]) -> list[str]:
    """Each management token (of user tokens, and of account-owned ones) is active at Cloudflare and its own record
    grants what its tokens need: API Tokens Write, or Account API Tokens Write."""
    problems: list[str] = []
    for owner in inventory.owners or (USER,):
        name = inventory.manager_name(owner)
        value = folder.get(name)
        if value is None:
            problems.append(f"the management token {name} is not in the vault: {owner.label}s cannot be managed")
            continue
        problems += _manager_check(settings, inventory, name, value, owner)
    return list(dict.fromkeys(problems))


def _manager_check(settings: Settings, inventory: Inventory, name: str, value: SecretStr,
                   manages: TokenOwner) -> list[str]:
    """The management token `name` verifies active and its own record grants `manages`' write permission."""
    manager = inventory.find(name)
    own = inventory.owner(manager) if manager is not None else USER  # read its record where it lives
    with CloudflareClient(base_url=settings.cloudflare_api_url, management_token=value, timeout=TIMEOUT,
                          retry=RETRY, owner=own) as cloudflare:
        try:
            verification, own = cloudflare.verify_value(value, own, inventory.account_id)
            if verification.status != "active":
                return [f"Cloudflare says the management token {name} is {verification.status}: "
                        "rotate it in the dashboard (runbook failure mode D)"]
            record = cloudflare.get_token(verification.id)
        except NotAuthorized:
            record = None  # it may not even read its own kind's tokens: it certainly lacks the write permission
        except CftokenError as exc:
            return [f"Cloudflare refused the management token {name}: {exc} (runbook failure mode D)"]
    needed = manages.write_permission
    tokens = ", ".join(t.name for t in inventory.tokens if inventory.owner(t) == manages and t.name != name)
    what = f"it cannot mint, roll or revoke the {manages.label}s ({tokens or 'none yet'})"
    write = inventory.permission_groups.get(needed)
    if write is None and manages.kind == "account":
        return [f"the inventory's [permission_groups] lacks \"{needed}\": add its id (GET "
                f"/accounts/{{account_id}}/tokens/permission_groups) so `cftoken check` can confirm {name} holds it"]
    granted = set() if record is None else {
        g.id for policy in record.policies if policy.effect == "allow" for g in policy.permission_groups}
    if write is not None and write not in granted:
        return [f"the management token {name} lacks {needed}: {what}"]
    return []


def freescout_check(settings: Settings) -> list[str]:
    """The API key works, FREESCOUT_MAILBOX_ID is a mailbox and FREESCOUT_USER_ID a user it sees."""
    freescout = settings.freescout
    if freescout is None:
        return []  # already reported offline
    client = FreeScoutClient(base_url=freescout.url, api_key=freescout.api_key, mailbox_id=freescout.mailbox_id,
                             user_id=freescout.user_id, timeout=TIMEOUT, retry=RETRY)
    with client:
        problems = []
        for what, setting, wanted, lookup in (
            ("mailbox", "FREESCOUT_MAILBOX_ID", freescout.mailbox_id, client.mailboxes),
            ("user", "FREESCOUT_USER_ID", freescout.user_id, client.users),
        ):
            problem = _freescout_has(what, setting, wanted, lookup, freescout.url)
            if problem:
                problems.append(problem)
                if problem.startswith("FreeScout at"):  # unreachable or key refused: the second ask says the same
                    break
        return problems


def _freescout_has(what: str, setting: str, wanted: int, lookup: Callable[[], dict[int, str]], url: str) -> str:
    try:
        known = lookup()
    except CftokenError as exc:
        return f"FreeScout at {url}: {exc}"
    if wanted in known:
        return ""
    listed = ", ".join(f"{key} {value}" for key, value in sorted(known.items())[:5]) or "none"
    plural = what + ("es" if what.endswith("x") else "s")
    return f"{setting} {wanted} is not a FreeScout {what} this API key sees ({plural}: {listed})"


def _slack_code(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")
