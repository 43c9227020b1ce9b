"""The Heroku and Slack files agree with the settings and DESIGN.md's names."""

import json
import re
from pathlib import Path

from domain.settings import Settings

ROOT = Path(__file__).parents[2]


def test_app_json_describes_every_setting_and_nothing_else():
    env = json.loads((ROOT / "app.json").read_text())["env"]

    assert set(env) == {name.upper() for name in Settings.model_fields} - {"REDIS_URL"}  # REDIS_URL: heroku-redis
    assert all(entry["description"] for entry in env.values())
    assert env["CFTOKEN_SECRET_KEY"]["generator"] == "secret"


def test_app_json_provisions_redis_and_the_three_process_types():
    app = json.loads((ROOT / "app.json").read_text())

    assert any(addon.startswith("heroku-redis") for addon in app["addons"])
    assert set(app["formation"]) == {"web", "worker", "clock"}


def test_procfile_has_exactly_the_designed_process_types():
    lines = (ROOT / "Procfile").read_text().splitlines()
    types = [line.split(":", 1)[0] for line in lines if line.strip()]

    assert types == ["web", "worker", "clock", "release"]
    assert "$PORT" in lines[0] and "bot.web:application" in lines[0]


def test_the_manifest_points_commands_and_buttons_at_slack_events():
    manifest = (ROOT / "slack-app-manifest.yml").read_text()

    assert re.search(r"command: /cftoken\n\s+url: https://<app-host>/slack/events", manifest)
    assert re.search(r"interactivity:\n\s+is_enabled: true\n\s+request_url: https://<app-host>/slack/events", manifest)
    for scope in ("commands", "chat:write", "usergroups:read"):
        assert f"- {scope}\n" in manifest
