import pytest

from domain.settings import Settings, SettingsError, WebSettings, WorkerSettings, load_settings, settings_problems
from tests.conftest import make_settings

REQUIRED = {
    "cftoken_channel_id": "C0SRE0001",
    "cftoken_approvers": "U0ALICE01,U0BOB0002",
    "infisical_client_id": "id",
    "infisical_client_secret": "secret",
    "infisical_project_id": "proj",
    "slack_bot_token": "xoxb-1",
    "slack_signing_secret": "signing",
    "cftoken_secret_key": "s" * 40,
}
WEB_ONLY = {"cftoken_channel_id": "C0SRE0001", "cftoken_secret_key": "s" * 40, "cftoken_approvers": "U0ALICE01", "slack_bot_token": "xoxb-1",
            "slack_signing_secret": "signing"}
WORKER_ONLY = {"cftoken_channel_id": "C0SRE0001", "cftoken_secret_key": "s" * 40, "slack_bot_token": "xoxb-1", "infisical_client_id": "id",
               "infisical_client_secret": "secret", "infisical_project_id": "proj"}


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
    assert Settings.model_fields["cftoken_outbox_lease_seconds"].default == 20


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


def test_secrets_do_not_print():
    settings = make_settings(infisical_client_secret="very-secret-value", slack_bot_token="xoxb-1-secret")

    assert "very-secret-value" not in repr(settings)
    assert "xoxb-1-secret" not in str(settings)


def test_the_secret_key_is_required_by_every_process():
    for kind, values in ((WebSettings, WEB_ONLY), (WorkerSettings, WORKER_ONLY)):
        without = {k: v for k, v in values.items() if k != "cftoken_secret_key"}
        with pytest.raises(SettingsError, match=r"^CFTOKEN_SECRET_KEY is not set"):
            load_settings(kind, _env_file=None, **without)


def test_the_web_needs_no_vault_or_freescout_credentials():
    web = load_settings(WebSettings, _env_file=None, **WEB_ONLY)

    assert web.approvers == ("U0ALICE01",)
    assert not hasattr(web, "infisical_client_secret") and not hasattr(web, "freescout_api_key")


def test_the_worker_needs_no_signing_secret_or_approvers():
    worker = load_settings(WorkerSettings, _env_file=None, **WORKER_ONLY)

    assert worker.infisical_client_id == "id" and worker.freescout is None
    assert not hasattr(worker, "slack_signing_secret")


def test_the_web_refuses_to_start_without_a_way_to_verify_slack():
    values = {k: v for k, v in WEB_ONLY.items() if k != "slack_signing_secret"}

    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET is not set"):
        load_settings(WebSettings, _env_file=None, **values)
    assert load_settings(WebSettings, _env_file=None, **values, slack_app_token="xapp-1").slack_app_token


def test_freescout_is_all_four_settings_or_none():
    half = {**WORKER_ONLY, "freescout_url": "https://help.example.org", "freescout_api_key": "k"}

    with pytest.raises(SettingsError) as caught:
        load_settings(WorkerSettings, _env_file=None, **half)
    whole = load_settings(WorkerSettings, _env_file=None, **half, freescout_mailbox_id=2, freescout_user_id=7)

    assert str(caught.value).startswith("FREESCOUT_MAILBOX_ID, FREESCOUT_USER_ID are not set: FreeScout needs all")
    assert (whole.freescout.mailbox_id, whole.freescout.user_id) == (2, 7)


def test_every_problem_is_named_not_only_the_first():
    problems = settings_problems(Settings, _env_file=None, cftoken_channel_id="#sre", redis_url="localhost")

    assert "CFTOKEN_CHANNEL_ID is malformed: expected a Slack channel ID such as C0123ABCD" in problems
    assert "REDIS_URL is malformed: expected a redis://, rediss:// or unix:// URL" in problems
    assert {p.split()[0] for p in problems} - {"CFTOKEN_CHANNEL_ID", "REDIS_URL"} == {"CFTOKEN_SECRET_KEY", "SLACK_BOT_TOKEN", "INFISICAL_CLIENT_ID", "INFISICAL_CLIENT_SECRET",
                                                    "INFISICAL_PROJECT_ID", "CFTOKEN_APPROVERS"}


@pytest.mark.parametrize(("lease", "call_timeout"), [("20", 10.0), ("3", 1.5), ("300", 10.0)])
def test_a_slack_call_never_outlasts_the_deliverers_lease(lease, call_timeout):
    settings = make_settings(cftoken_outbox_lease_seconds=lease)

    assert settings.slack_call_timeout == call_timeout


def test_a_lease_shorter_than_two_seconds_is_refused_by_name():
    with pytest.raises(SettingsError, match="CFTOKEN_OUTBOX_LEASE_SECONDS"):
        load_settings(_env_file=None, **{**REQUIRED, "cftoken_outbox_lease_seconds": "1"})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("cftoken_metrics_token", "abc", "CFTOKEN_METRICS_TOKEN is malformed: expected a random bearer secret of at "
                                         "least 32"),
        ("slack_app_id", "not an id", "SLACK_APP_ID is malformed: expected the app's ID such as A0123ABCDEF"),
        ("slack_app_id", "a0cftoken", "SLACK_APP_ID is malformed"),
        ("redis_url", "redis://localhost:notaport/0", "REDIS_URL is malformed: expected a URL such as redis://"),
    ],
)
def test_a_short_metrics_token_a_misshapen_app_id_and_an_unparsable_redis_url_are_refused(field, value, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{**REQUIRED, field: value})

    assert str(caught.value).startswith(expected)


def test_a_long_metrics_token_and_a_real_app_id_are_accepted():
    settings = load_settings(_env_file=None, **REQUIRED, cftoken_metrics_token="m" * 32, slack_app_id="A0123ABCDEF")

    assert (settings.slack_app_id, len(settings.cftoken_metrics_token.get_secret_value())) == ("A0123ABCDEF", 32)
