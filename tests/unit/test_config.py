"""Settings: every missing or malformed variable is named, all at once."""

from __future__ import annotations

import datetime as dt

import pytest

from cis.config import BatchFailureMode, RsvpSettings, Settings
from cis.errors import ConfigurationError

VALID = {
    "REGION": "eu-west-1",
    "DYNAMODB_TABLE": "cis-invites",
    "SENDER": "{} via Invites <invites@example.com>",
    "RSVP_EMAIL": "rsvp@example.com",
    "SQS_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/invites",
}


def test_valid_environment_gives_settings_with_defaults() -> None:
    settings = Settings.from_env(VALID)
    assert settings.region == "eu-west-1"
    assert settings.batch_failure_mode is BatchFailureMode.REPORT
    assert settings.claim_lease == dt.timedelta(minutes=15)
    assert settings.endpoint_url is None


def test_optional_settings_are_read() -> None:
    settings = Settings.from_env({**VALID, "BATCH_FAILURE_MODE": "RAISE",
                                  "CLAIM_LEASE_SECONDS": "60",
                                  "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
                                  "SES_CONFIGURATION_SET": "tracking"})
    assert settings.batch_failure_mode is BatchFailureMode.RAISE
    assert settings.claim_lease == dt.timedelta(seconds=60)
    assert settings.endpoint_url == "http://127.0.0.1:5000"
    assert settings.ses_configuration_set == "tracking"


def test_every_missing_variable_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({})
    assert caught.value.problems == [
        "REGION is not set", "DYNAMODB_TABLE is not set", "SENDER is not set",
        "RSVP_EMAIL is not set", "SQS_URL is not set"]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("REGION", "Europe", "an AWS region"),
        ("DYNAMODB_TABLE", "a b", "a DynamoDB table name"),
        ("SENDER", "nobody", "not a valid address"),
        ("SENDER", "Invites <>", "no address found"),
        ("SENDER", "Invites <{}@example.com>", "placeholder belongs in the display name"),
        ("RSVP_EMAIL", "rsvp@", "an email address"),
        ("SQS_URL", "invites", "an http(s) queue URL"),
        ("BATCH_FAILURE_MODE", "explode", "'report' or 'raise'"),
        ("CLAIM_LEASE_SECONDS", "-5", "positive integer"),
        ("LOG_LEVEL", "chatty", "one of TRACE, DEBUG, INFO, WARN, WARNING, ERROR, FATAL, CRITICAL"),
        ("MAX_CONCURRENCY", "0", "positive integer"),
        ("AWS_ENDPOINT_URL", "localhost:5000", "http(s) URL"),
    ],
)
def test_each_malformed_variable_is_named(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**VALID, name: value})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(name)
    assert words in caught.value.problems[0]


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**VALID, "REGION": "x", "SQS_URL": "", "RSVP_EMAIL": "nope"})
    assert len(caught.value.problems) == 3
    assert "REGION" in str(caught.value) and "SQS_URL" in str(caught.value)


def test_log_level_is_read_in_any_case_and_defaults_to_info() -> None:
    assert Settings.from_env(VALID).log_level == "INFO"
    assert Settings.from_env({**VALID, "LOG_LEVEL": " warning "}).log_level == "WARNING"
    assert RsvpSettings.from_env({**VALID, "LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(ConfigurationError, match="LOG_LEVEL='LOUD'"):
        RsvpSettings.from_env({**VALID, "LOG_LEVEL": "loud"})


def test_the_send_rate_is_shared_by_the_concurrent_invocations() -> None:
    settings = Settings.from_env({**VALID, "MAX_SEND_RATE": "14", "MAX_CONCURRENCY": "5"})
    assert (settings.max_send_rate, settings.max_concurrency) == (14.0, 5)
    assert settings.send_rate == pytest.approx(2.8)
    assert Settings.from_env(VALID).send_rate is None
    unpaced = Settings.from_env({**VALID, "MAX_SEND_RATE": "0", "MAX_CONCURRENCY": "5"})
    assert unpaced.send_rate is None


@pytest.mark.parametrize(("environment", "words"), [
    ({"MAX_SEND_RATE": "fast", "MAX_CONCURRENCY": "5"}, "MAX_SEND_RATE='fast' is not a number"),
    ({"MAX_SEND_RATE": "-3", "MAX_CONCURRENCY": "5"}, "MAX_SEND_RATE='-3' is not a number"),
    ({"MAX_SEND_RATE": "inf", "MAX_CONCURRENCY": "5"}, "MAX_SEND_RATE='inf' is not a number"),
    ({"MAX_SEND_RATE": "14"}, "MAX_CONCURRENCY is not set"),
])
def test_a_send_rate_that_cannot_be_shared_is_named(
    environment: dict[str, str], words: str,
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**VALID, **environment})
    assert [problem for problem in caught.value.problems if words in problem]


def test_lambdas_application_log_level_wins_over_log_level() -> None:
    # With the JSON log format Lambda sets AWS_LAMBDA_LOG_LEVEL from ApplicationLogLevel and
    # drops records below it: cis's own level follows it.
    both = {**VALID, "LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    assert Settings.from_env(both).log_level == "WARNING"
    assert RsvpSettings.from_env(both).log_level == "WARNING"
    assert Settings.from_env({**VALID, "AWS_LAMBDA_LOG_LEVEL": "TRACE"}).log_level == "DEBUG"
    assert Settings.from_env({**VALID, "AWS_LAMBDA_LOG_LEVEL": "FATAL"}).log_level == "CRITICAL"
    assert Settings.from_env({**VALID, "AWS_LAMBDA_LOG_LEVEL": " "}).log_level == "INFO"


def test_log_level_takes_lambdas_spelling_of_the_levels_too() -> None:
    assert Settings.from_env({**VALID, "LOG_LEVEL": "warn"}).log_level == "WARNING"
    assert Settings.from_env({**VALID, "LOG_LEVEL": "fatal"}).log_level == "CRITICAL"


def test_a_malformed_level_is_named_even_when_the_other_one_is_set() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({**VALID, "AWS_LAMBDA_LOG_LEVEL": "LOUD", "LOG_LEVEL": "quiet"})
    assert caught.value.problems == [
        "AWS_LAMBDA_LOG_LEVEL='LOUD' is not one of TRACE, DEBUG, INFO, WARN, WARNING, ERROR, "
        "FATAL, CRITICAL",
        "LOG_LEVEL='QUIET' is not one of TRACE, DEBUG, INFO, WARN, WARNING, ERROR, FATAL, "
        "CRITICAL",
    ]
