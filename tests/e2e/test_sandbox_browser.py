"""The sandbox as an SRE trying the bot meets it: `python -m sandbox.run`, then a browser on the channel page.

Headless Chromium (Debian's chromium + chromium-driver) does what a person would: verify, a roll refused to
its own requester and approved by the other approver, a revoke through its confirmation dialog to the
FreeScout ticket, and a fast-forward to an expiry warning with its Request roll button. It saves the channel
as build/sandbox-channel.png (`make screenshot` writes the README's docs/sandbox-channel.png instead), checks that no token value ever reached the page, and
stops the sandbox with Ctrl-C's signal.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from standins.world import APPROVERS, CLIENT_ID, CLIENT_SECRET, ENGINEER, PROJECT_ID
from tests.e2e.sandbox_process import REPO, Sandbox, alive, listening_ports, start_sandbox
from workers.clients.infisical import InfisicalClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ALICE, BOB = APPROVERS
CAROL = ENGINEER
# build/ by default, so `make test` leaves the work tree clean; `make screenshot` points it at the README's picture
SCREENSHOT = Path(os.environ.get("CFTOKEN_SCREENSHOT") or REPO / "build" / "sandbox-channel.png")
WAIT = 30.0  # seconds for anything the bot does (a worker job, a message update)
MESSAGES_JS = """
return [...document.querySelectorAll('#messages > [data-testid=message]')].map(e => ({
  ts: e.dataset.ts, ephemeral: e.dataset.ephemeral === 'true', text: e.innerText,
  buttons: [...e.querySelectorAll('button[data-action-id]')].map(b => b.dataset.actionId + ':' + b.dataset.value),
}));
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    running = start_sandbox()
    yield running
    if running.process.poll() is None:
        running.kill()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1440,1000"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="cftoken-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            yield driver
        finally:
            driver.quit()


class ChannelPage:
    """The channel page driven the way a person uses it: pick who you are, type, click, watch."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        self.sources: list[str] = []  # every page HTML seen, for the leak check
        driver.get(url + "/")
        self.until(lambda: driver.execute_script("return document.body.dataset.loaded") == "true", "page loaded")

    def until(self, check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        wait = WebDriverWait(self.driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
        try:
            return wait.until(lambda _driver: check())
        except WebDriverException as exc:
            picture = Path(tempfile.gettempdir()) / "cftoken-sandbox-failure.png"
            self.driver.save_screenshot(str(picture))
            messages = "\n---\n".join(m["text"] for m in self.messages())
            raise AssertionError(f"timed out waiting for {what} (see {picture}); the channel shows:\n{messages}") from exc

    def act_as(self, user: str) -> None:
        Select(self.driver.find_element(By.CSS_SELECTOR, "[data-testid=person-picker]")).select_by_value(user)
        self.until(lambda: self.driver.execute_script("return document.body.dataset.viewer") == user, f"acting as {user}")

    def run(self, command: str) -> None:
        box = self.driver.find_element(By.CSS_SELECTOR, "[data-testid=composer-input]")
        box.clear()
        box.send_keys(command)
        self.driver.find_element(By.CSS_SELECTOR, "[data-testid=composer-send]").click()
        self.until(lambda: box.get_attribute("value") == "", f"{command} sent")

    def messages(self) -> list[dict[str, Any]]:
        self.sources.append(self.driver.page_source)
        return self.driver.execute_script(MESSAGES_JS)

    def message(self, *words: str, ephemeral: bool | None = None, after: str = "0") -> dict[str, Any]:
        """Wait for a message newer than `after` that contains every one of `words`."""

        def find() -> dict[str, Any] | None:
            for m in reversed(self.messages()):
                if float(m["ts"]) > float(after) and all(w in m["text"] for w in words):
                    if ephemeral is None or m["ephemeral"] == ephemeral:
                        return m
            return None

        return self.until(find, f"a message with {words}")

    def message_at(self, ts: str, *words: str) -> dict[str, Any]:
        """Wait until the message at `ts` contains every one of `words` (messages are updated in place)."""

        def find() -> dict[str, Any] | None:
            m = next((m for m in self.messages() if m["ts"] == ts), None)
            return m if m and all(w in m["text"] for w in words) else None

        return self.until(find, f"the message at {ts} to show {words}")

    def click(self, ts: str, action_id: str) -> None:
        self.click_element(f'#messages [data-testid=message][data-ts="{ts}"] button[data-action-id="{action_id}"]')

    def click_element(self, selector: str) -> None:
        """Click, retrying when the poll re-rendered the element away between finding and clicking it."""

        def press() -> bool:
            self.driver.find_element(By.CSS_SELECTOR, selector).click()
            return True

        self.until(press, f"{selector} clicked")

    def earlier_versions(self, ts: str) -> list[str]:
        """Open the message's earlier versions (the sandbox keeps every step a message went through) and read them."""
        details = f'#messages [data-testid=earlier-versions][data-ts="{ts}"]'
        self.click_element(details + " summary")
        self.until(lambda: self.driver.find_element(By.CSS_SELECTOR, details).get_attribute("open") is not None, "open")
        versions = self.driver.find_elements(By.CSS_SELECTOR, details + " [data-testid=earlier-version]")
        return [version.text for version in versions]

    def world_token(self, name: str, testid: str) -> str:
        selector = f'[data-testid=world-token][data-name="{name}"] [data-testid={testid}]'
        return self.until(lambda: self.driver.find_element(By.CSS_SELECTOR, selector).text, f"{name} {testid}")

    def latest_ts(self) -> str:
        stamps = [m["ts"] for m in self.messages()]
        return max(stamps, key=float) if stamps else "0"


def vault_values(infisical_url: str) -> dict[str, str]:
    """The vault folder's current values, read the way the bot reads them (for the leak check)."""
    client = InfisicalClient(
        base_url=infisical_url, client_id=CLIENT_ID, client_secret=SecretStr(CLIENT_SECRET), project_id=PROJECT_ID,
        environment="prod", secret_path="/MooseQuest/cloudflare",
    )
    with client:
        return {name: value.get_secret_value() for name, value in client.list_folder().items()}


def test_an_sre_tries_verify_roll_revoke_and_an_expiry_warning_in_the_browser(sandbox, browser):
    began = time.monotonic()
    infisical = sandbox.state()["urls"]["infisical"]
    inventory = [t["name"] for t in sandbox.state()["world"]["tokens"]]
    values = {v for name, v in vault_values(infisical).items() if name in inventory}
    page = ChannelPage(browser, sandbox.url)

    # verify: anyone may; the command's answer is for the one who typed it, the report for the channel
    page.act_as(ALICE)
    page.run("/cftoken verify CF_WAF_EDIT_RAXX_APP")
    page.message("Verifying CF_WAF_EDIT_RAXX_APP", "Only visible to you", ephemeral=True)
    page.message("verify CF_WAF_EDIT_RAXX_APP", "asked by @Alice Approver", ephemeral=False)

    # an engineer who is not an approver cannot ask for a roll
    page.act_as(CAROL)
    page.run("/cftoken roll CF_WAF_EDIT_RAXX_APP")
    page.message("only approvers can ask for a roll", ephemeral=True)

    # roll: Alice asks, cannot approve it herself, Bob approves, the worker rolls; the vault value changes
    page.act_as(ALICE)
    before_roll = page.world_token("CF_DNS_EDIT_GETRAXX_COM", "vault-value")
    page.run("/cftoken roll CF_DNS_EDIT_GETRAXX_COM 90-day rotation")
    roll = page.message("Roll CF_DNS_EDIT_GETRAXX_COM", "waiting for approval", ephemeral=False)
    assert "approve:" in " ".join(roll["buttons"])
    page.click(roll["ts"], "approve")
    page.message("You asked for this, so you cannot approve it", ephemeral=True, after=roll["ts"])
    page.message_at(roll["ts"], "waiting for approval")
    page.act_as(BOB)
    assert not any("cannot approve it" in m["text"] for m in page.messages()), "Alice's ephemeral shown to Bob"
    page.click(roll["ts"], "approve")
    done = page.message_at(roll["ts"], "Rolled CF_DNS_EDIT_GETRAXX_COM", "Done", "Approved by @Bob Approver", "(edited)")
    assert "verified active at Cloudflare" in done["text"]
    assert not done["buttons"], "a finished request still has buttons"
    steps = page.earlier_versions(roll["ts"])
    assert "waiting for approval" in steps[0] and any("Running (step:" in step for step in steps), steps
    page.until(lambda: page.world_token("CF_DNS_EDIT_GETRAXX_COM", "vault-value") != before_roll, "new vault value")
    values |= {v for name, v in vault_values(infisical).items() if name in inventory}

    # revoke: Bob asks, Alice approves through the confirmation dialog; the result links the FreeScout ticket
    page.run("/cftoken revoke CF_PAGES_READ leaked in a CI log")
    revoke = page.message("Revoke CF_PAGES_READ", "waiting for approval", ephemeral=False)
    page.act_as(ALICE)
    page.click(revoke["ts"], "approve")
    dialog = page.until(lambda: browser.find_element(By.CSS_SELECTOR, "[data-testid=confirm-dialog]"), "dialog")
    page.until(dialog.is_displayed, "the confirmation dialog")
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=confirm-title]").text == "Revoke for good?"
    browser.find_element(By.CSS_SELECTOR, "[data-testid=confirm-confirm]").click()
    page.message_at(revoke["ts"], "Revoked CF_PAGES_READ", "Done")
    link = page.until(
        lambda: browser.find_element(By.CSS_SELECTOR, f'[data-ts="{revoke["ts"]}"] a[href*="/conversation/"]'),
        "the ticket link",
    )
    with urlopen(link.get_attribute("href"), timeout=5) as ticket:
        assert "CF_PAGES_READ" in ticket.read().decode()
    page.until(lambda: "CF_PAGES_READ" in browser.find_element(By.CSS_SELECTOR, "[data-testid=ticket]").text, "ticket")
    assert page.world_token("CF_PAGES_READ", "token-status") == "deleted"

    # fast-forward a week: CF_PAGES_DEPLOY (20 days at the start) crosses the 14-day threshold
    before_scan = page.latest_ts()
    days = browser.find_element(By.CSS_SELECTOR, "[data-testid=fast-forward-days]")
    days.clear()
    days.send_keys("7")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=fast-forward]").click()
    warning = page.message("Cloudflare token check", "CF_PAGES_DEPLOY", "14-day warning", after=before_scan)
    assert "request_roll:CF_PAGES_DEPLOY" in warning["buttons"]
    page.until(lambda: "fast-forwarded 7" in browser.find_element(By.CSS_SELECTOR, "[data-testid=clock]").text, "clock")
    page.click(warning["ts"], "request_roll")
    page.message("Roll CF_PAGES_DEPLOY", "waiting for approval", "expiry warning", ephemeral=False)

    # break a token in the world panel: the scan it queues posts the problem with its next step, then the fix
    waf = '[data-name="CF_WAF_EDIT_RAXX_APP"]'
    before_break = page.latest_ts()
    Select(browser.find_element(By.CSS_SELECTOR, f"[data-testid=break-how]{waf}")).select_by_value("disable")
    page.click_element(f"[data-testid=break-go]{waf}")
    alert = page.message("Cloudflare token check", "CF_WAF_EDIT_RAXX_APP", "disabled at Cloudflare",
                         after=before_break)
    assert "request_verify:CF_WAF_EDIT_RAXX_APP" in alert["buttons"]
    assert page.world_token("CF_WAF_EDIT_RAXX_APP", "token-status") == "disabled"
    Select(browser.find_element(By.CSS_SELECTOR, f"[data-testid=break-how]{waf}")).select_by_value("repair")
    page.click_element(f"[data-testid=break-go]{waf}")
    page.message("Cloudflare token check", "CF_WAF_EDIT_RAXX_APP", "disabled at Cloudflare — fixed", after=alert["ts"])

    # Slack refused nothing the bot sent (the page would list it in red)
    assert sandbox.state()["refusals"] == []
    assert not browser.find_element(By.CSS_SELECTOR, "[data-testid=refusals]").is_displayed()

    browser.execute_script("const m = document.getElementById('messages'); m.scrollTop = m.scrollHeight;")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))

    # no full token value ever reached the page, in its HTML or in the state it polls
    values |= {v for name, v in vault_values(infisical).items() if name in inventory}
    values = {v for v in values if not v.startswith("REVOKED")}
    received = page.sources + [sandbox.state_text(user) for user in (ALICE, BOB, CAROL)]
    assert values and not [v for v in values if any(v in text for text in received)]
    shown = {t["name"]: t["vault"] for t in sandbox.state(ALICE)["world"]["tokens"]}
    assert shown["CF_DNS_EDIT_GETRAXX_COM"] == "…" + vault_values(infisical)["CF_DNS_EDIT_GETRAXX_COM"][-4:]

    story = time.monotonic() - began
    tree = sandbox.tree()
    ports = listening_ports(tree)
    assert sandbox.stop(signal.SIGINT) == 0
    assert not alive(tree), f"left running: {alive(tree)}"
    assert not ports & listening_ports(), f"still listening: {ports & listening_ports()}"
    print(f"\nsandbox up in {sandbox.started_in:.1f}s; the story took {story:.1f}s; {len(ports)} ports freed")

