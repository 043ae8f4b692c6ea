"""The composition root: each entry point gets its service, with the adapters its settings name."""

from __future__ import annotations

import ast
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.lambda_intake import LambdaEventSourceIntake
from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.adapters.outbox import OutboxMailer
from cis.adapters.ses import SesMailer
from cis.adapters.smtp import SmtpMailer
from cis.adapters.sqlite import SqliteInviteRepository
from cis.adapters.sqs import SqsInviteQueue
from cis.bootstrap import (
    aws_rsvp_runtime,
    aws_runtime,
    build_rsvp_service,
    build_service,
    local_dead_letter_queue,
    local_queue,
    local_rsvp_runtime,
    local_runtime,
    local_store,
)
from cis.config import LocalSettings
from cis.errors import ConfigurationError, RepositoryError
from cis.services.feedback import FeedbackService
from cis.services.invites import InviteService
from cis.services.replies import RsvpService

SRC = Path(__file__).resolve().parents[2] / "src" / "cis"
ENVIRONMENT = {
    "REGION": "eu-west-1",
    "DYNAMODB_TABLE": "cis-invites",
    "SENDER": "{} via Invites <invites@example.com>",
    "RSVP_EMAIL": "rsvp@example.com",
    "SQS_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/invites",
    "CLAIM_LEASE_SECONDS": "120",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture
def cis_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("cis")
    level = logger.level
    yield logger
    logger.setLevel(level)


def test_the_library_door_defaults_to_the_in_memory_adapters() -> None:
    service = build_service(sender="invites@example.com", rsvp_email="rsvp@example.com")
    assert isinstance(service.repository, InMemoryInviteRepository)
    assert isinstance(service.mailer, InMemoryMailer)
    replies = build_rsvp_service()
    assert isinstance(replies, RsvpService)
    assert isinstance(replies.repository, InMemoryInviteRepository)


def test_the_invite_function_is_wired_to_aws_from_the_environment(
    cis_logger: logging.Logger,
) -> None:
    cis_logger.setLevel(logging.WARNING)
    runtime = aws_runtime(ENVIRONMENT)
    assert isinstance(runtime.service.repository, DynamoDBInviteRepository)
    assert runtime.service.repository.table_name == "cis-invites"
    assert isinstance(runtime.service.mailer, SesMailer)
    assert isinstance(runtime.queue, SqsInviteQueue)
    assert runtime.service.claim_lease == dt.timedelta(seconds=120)
    # The Lambda runtime leaves the root logger at WARNING; LOG_LEVEL opens cis's own.
    assert cis_logger.level == logging.INFO


def test_the_invite_function_paces_to_its_share_and_can_pause_its_own_event_source() -> None:
    runtime = aws_runtime({**ENVIRONMENT, "MAX_SEND_RATE": "14", "MAX_CONCURRENCY": "5",
                           "AWS_LAMBDA_FUNCTION_NAME": "cis-InviteFunction"})
    assert runtime.service.pacer is not None
    assert runtime.service.pacer.rate == pytest.approx(2.8)
    assert isinstance(runtime.intake, LambdaEventSourceIntake)
    assert runtime.intake.function_name == "cis-InviteFunction"
    unpaced = aws_runtime(ENVIRONMENT)
    assert (unpaced.service.pacer, unpaced.intake) == (None, None)


def test_the_rsvp_function_applies_its_log_level(cis_logger: logging.Logger) -> None:
    runtime = aws_rsvp_runtime({**ENVIRONMENT, "LOG_LEVEL": "DEBUG"})
    assert isinstance(runtime.service.repository, DynamoDBInviteRepository)
    assert runtime.service.store is not None
    assert cis_logger.level == logging.DEBUG


def test_lambdas_application_log_level_sets_cis_own_level(cis_logger: logging.Logger) -> None:
    # JSON log format: Lambda drops records below ApplicationLogLevel; LOG_LEVEL is overruled.
    aws_runtime({**ENVIRONMENT, "LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_LEVEL": "ERROR"})
    assert cis_logger.level == logging.ERROR
    aws_rsvp_runtime({**ENVIRONMENT, "LOG_LEVEL": "ERROR", "AWS_LAMBDA_LOG_LEVEL": "TRACE"})
    assert cis_logger.level == logging.DEBUG


def test_a_local_run_keeps_state_in_sqlite_and_mail_in_the_outbox(tmp_path: Path) -> None:
    settings = LocalSettings(sender="invites@example.com", rsvp_email="rsvp@example.com",
                             state=tmp_path / "cis.db", outbox=tmp_path / "outbox",
                             claim_lease=dt.timedelta(seconds=30))
    with local_runtime(settings) as runtime:
        assert isinstance(runtime.repository, SqliteInviteRepository)
        assert isinstance(runtime.mailer, OutboxMailer)
        assert runtime.service.repository is runtime.repository
        assert runtime.service.claim_lease == dt.timedelta(seconds=30)
        assert runtime.repository.get_statistics("e1").invites_sent == 0
    with pytest.raises(RepositoryError, match="closed"):
        runtime.repository.get_statistics("e1")


def test_a_local_run_can_send_through_smtp_ses_and_keep_state_in_dynamodb(
    tmp_path: Path,
) -> None:
    smtp = LocalSettings(sender="invites@example.com", rsvp_email="rsvp@example.com",
                         state=tmp_path / "cis.db", smtp_url="smtp://127.0.0.1:2525")
    with local_runtime(smtp) as runtime:
        assert isinstance(runtime.mailer, SmtpMailer)
        assert (runtime.mailer.host, runtime.mailer.port) == ("127.0.0.1", 2525)
    aws = LocalSettings(sender="invites@example.com", rsvp_email="rsvp@example.com",
                        dynamodb_table="cis-invites", ses=True, region="eu-west-1",
                        queue_url="https://sqs.eu-west-1.amazonaws.com/1/invites")
    with local_runtime(aws) as runtime:
        assert isinstance(runtime.repository, DynamoDBInviteRepository)
        assert isinstance(runtime.mailer, SesMailer)
    assert local_queue(aws).queue_url == "https://sqs.eu-west-1.amazonaws.com/1/invites"


def test_a_malformed_smtp_url_is_a_configuration_error_before_anything_is_opened(
    tmp_path: Path,
) -> None:
    settings = LocalSettings(state=tmp_path / "cis.db", smtp_url="ftp://mail.example.com")
    with pytest.raises(ConfigurationError, match="SMTP URL scheme"):
        local_runtime(settings)
    assert not (tmp_path / "cis.db").exists()
    with pytest.raises(ConfigurationError, match="no SQS queue URL"):
        local_queue(settings)


def test_an_operator_command_reads_the_state_file_or_the_table_and_a_dead_letter_queue(
    tmp_path: Path,
) -> None:
    from cis.adapters.sqs_redrive import SqsDeadLetterQueue

    with local_store(LocalSettings(state=tmp_path / "cis.db")) as store:
        assert isinstance(store.repository, SqliteInviteRepository)
    table = LocalSettings(dynamodb_table="cis-invites", region="eu-west-1",
                          queue_url="https://sqs.eu-west-1.amazonaws.com/1/invites-dlq")
    with local_store(table) as store:
        assert isinstance(store.repository, DynamoDBInviteRepository)
        assert store.repository.table_name == "cis-invites"
    dead_letters = local_dead_letter_queue(table)
    assert isinstance(dead_letters, SqsDeadLetterQueue)
    assert dead_letters.queue_url == "https://sqs.eu-west-1.amazonaws.com/1/invites-dlq"
    with pytest.raises(ConfigurationError, match="no SQS queue URL"):
        local_dead_letter_queue(LocalSettings())


def test_a_local_reply_run_applies_replies_to_the_state_file(tmp_path: Path) -> None:
    with local_rsvp_runtime(LocalSettings(state=tmp_path / "cis.db")) as runtime:
        assert isinstance(runtime.service, RsvpService)
        assert isinstance(runtime.repository, SqliteInviteRepository)
        assert runtime.service.repository is runtime.repository


def constructors_called(name: str) -> list[str]:
    """The modules under src/cis that call `name(...)` themselves."""
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == name):
                found.append(str(path.relative_to(SRC)))
    return sorted(set(found))


@pytest.mark.parametrize("service", [InviteService, RsvpService, FeedbackService])
def test_only_the_composition_root_builds_services(service: type) -> None:
    assert constructors_called(service.__name__) == ["bootstrap.py"]
