import pytest

from domain.settings import Settings, SettingsError, load_settings
from tests.conftest import make_settings

REQUIRED = {
    "cftoken_channel_id": "C0SRE0001",
    "cftoken_approvers": "U0ALICE01,U0BOB0002",
    "infisical_client_id": "id",
    "infisical_client_secret": "secret",
    "infisical_project_id": "proj",
    "cftoken_secret_key": "s" * 40,
}


def test_defaults_follow_the_design():
    settings = make_settings()

    assert Settings.model_fields["redis_url"].default == "redis://localhost:6379/0"
    assert settings.cloudflare_api_url == "https://api.cloudflare.com/client/v4"
    assert settings.infisical_api_url == "https://app.infisical.com"
    assert settings.infisical_environment == "prod"
    assert settings.infisical_secret_path == "/MooseQuest/cloudflare"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.warn_days == (14, 7, 3, 1)
    assert settings.approvals_needed("roll") == 1
    assert settings.cftoken_request_ttl_minutes == 30


def test_approvers_are_parsed_from_a_comma_separated_list():
    settings = make_settings(cftoken_approvers=" U0ALICE01 , S0SREGROUP,")

    assert settings.approvers == ("U0ALICE01", "S0SREGROUP")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("cftoken_approvers", "alice", "CFTOKEN_APPROVERS is malformed: alice is not a Slack user ID"),
        ("cftoken_channel_id", "#sre", "CFTOKEN_CHANNEL_ID is malformed: expected a Slack channel ID"),
        ("redis_url", "localhost:6379", "REDIS_URL is malformed: expected a redis://"),
        ("cftoken_warn_days", "14,soon", "CFTOKEN_WARN_DAYS is malformed: expected comma-separated whole"),
        ("cftoken_secret_key", "short", "CFTOKEN_SECRET_KEY is malformed: expected a random secret of at least 32"),
        ("cftoken_request_ttl_minutes", "0", "CFTOKEN_REQUEST_TTL_MINUTES is malformed"),
    ],
)
def test_a_malformed_setting_names_the_variable(field, value, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{**REQUIRED, field: value})

    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_a_missing_setting_names_the_variable():
    values = dict(REQUIRED)
    del values["infisical_project_id"]

    with pytest.raises(SettingsError, match=r"^INFISICAL_PROJECT_ID is not set"):
        load_settings(_env_file=None, **values)


def test_the_secret_key_is_required_by_every_process():
    values = dict(REQUIRED)
    del values["cftoken_secret_key"]

    with pytest.raises(SettingsError, match=r"^CFTOKEN_SECRET_KEY is not set"):
        load_settings(_env_file=None, **values)


def test_secrets_do_not_print():
    settings = make_settings(infisical_client_secret="very-secret-value", slack_bot_token="xoxb-1-secret")

    assert "very-secret-value" not in repr(settings)
    assert "xoxb-1-secret" not in str(settings)


def test_without_a_slack_bot_token_the_bot_runs_the_sandbox():
    assert make_settings(slack_bot_token=None).sandbox
    assert not make_settings().sandbox
