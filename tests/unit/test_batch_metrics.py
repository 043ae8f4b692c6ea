"""One EMF metric line per batch: every count present, low-cardinality, CloudWatch's format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cis.adapters.memory import (
    InMemoryIntake,
    InMemoryInviteQueue,
    InMemoryInviteRepository,
    InMemoryMailer,
)
from cis.bootstrap import RsvpRuntime, build_rsvp_service, build_service
from cis.domain.rsvp import ReplyOutcome
from cis.errors import MailerError
from cis.lambda_handler import LambdaRuntime, make_handler, make_rsvp_handler
from cis.services.batch_metrics import (
    DIMENSION,
    MILLISECONDS,
    NAMESPACE,
    Metric,
    emf_document,
    invite_metrics,
    level_kept_by,
    reply_metrics,
)
from cis.services.reports import BatchReport, Outcome, RecordResult, SentAs
from tests.emf import assert_valid_emf, metric_lines, values
from tests.support import RSVP_EMAIL, SENDER, body
from tests.unit.test_lambda_handler import sqs_event

INVITE_METRICS = {
    "Records", "Sent", "Duplicate", "Stale", "Skipped", "Expanded", "Rejected", "Failed",
    "Retried", "Suppressed", "Invited", "Updated", "Cancelled", "Removed", "Resent",
    "Throttled", "Conflicted", "UnknownVersion", "MailerHalted", "BatchDuration",
}


def result(outcome: Outcome, sent_as: SentAs | None = None) -> RecordResult:
    return RecordResult(message_id="m", receipt=None, outcome=outcome, event_uid="e1",
                        address="ann@example.org", sent_as=sent_as)


def test_every_invite_metric_is_in_every_batch_zero_or_not() -> None:
    metrics = invite_metrics(BatchReport(()), duration_ms=1.5)
    assert {m.name for m in metrics} == INVITE_METRICS
    assert all(m.value == 0 for m in metrics if m.name != "BatchDuration")
    assert Metric("BatchDuration", 1.5, MILLISECONDS) in metrics


def test_invite_metrics_count_the_outcomes_and_what_was_sent() -> None:
    report = BatchReport((
        result(Outcome.SENT, SentAs.INVITATION), result(Outcome.SENT, SentAs.INVITATION),
        result(Outcome.SENT, SentAs.UPDATE), result(Outcome.SENT, SentAs.CANCELLATION),
        result(Outcome.SENT, SentAs.REMOVAL), result(Outcome.SENT, SentAs.RESEND),
        result(Outcome.DUPLICATE), result(Outcome.STALE), result(Outcome.SKIPPED),
        result(Outcome.REJECTED), result(Outcome.REJECTED), result(Outcome.FAILED),
        result(Outcome.RETRY), result(Outcome.RETRY), result(Outcome.RETRY),
        result(Outcome.EXPANDED),
    ), halted="mailer: SES SendingPausedException", throttled=1, conflicts=4,
        unknown_versions=2)
    counted = {m.name: m.value for m in invite_metrics(report, duration_ms=12.0)}
    assert counted == {
        "Records": 16, "Sent": 6, "Duplicate": 1, "Stale": 1, "Skipped": 1, "Expanded": 1,
        "Rejected": 2, "Failed": 1, "Retried": 3, "Suppressed": 0, "Invited": 2, "Updated": 1,
        "Cancelled": 1, "Removed": 1, "Resent": 1, "Throttled": 1, "Conflicted": 4,
        "UnknownVersion": 2, "MailerHalted": 1, "BatchDuration": 12.0,
    }


def test_reply_metrics_count_each_reply_outcome() -> None:
    outcomes = [ReplyOutcome.APPLIED, ReplyOutcome.APPLIED, ReplyOutcome.RETRY,
                ReplyOutcome.IGNORED]
    counted = {m.name: m.value for m in reply_metrics(outcomes, duration_ms=3.0)}
    assert counted == {
        "Replies": 4, "RepliesApplied": 2, "RepliesRecorded": 0, "RepliesDuplicate": 0,
        "RepliesRejected": 0, "RepliesIgnored": 1, "RepliesRetried": 1,
        "ReplyBatchDuration": 3.0,
    }


def test_the_document_is_emf_with_the_function_as_its_only_dimension() -> None:
    document = emf_document(invite_metrics(BatchReport((result(Outcome.SENT, SentAs.UPDATE),)),
                                           duration_ms=2.0),
                            function_name="cis-InviteFunction-1", timestamp_ms=1_764_000_000_000)
    assert_valid_emf(document)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE == "cis"
    assert directive["Dimensions"] == [[DIMENSION]] == [["FunctionName"]]
    assert document["FunctionName"] == "cis-InviteFunction-1"
    assert values(document)["Sent"] == 1
    text = json.dumps(document)
    assert "ann@" not in text and "e1" not in text  # never the attendee nor the event
    assert "level" not in document


@pytest.mark.parametrize(("application", "level"), [
    ("", None), ("TRACE", None), ("DEBUG", None), ("INFO", None), ("info", None),
    ("WARN", "WARN"), ("ERROR", "ERROR"), ("FATAL", "FATAL"), ("WARNING", "WARN"),
])
def test_a_metric_line_carries_the_level_lambda_keeps(application: str,
                                                       level: str | None) -> None:
    assert level_kept_by(application) == level
    document = emf_document([], function_name="f", timestamp_ms=1,
                            level=level_kept_by(application))
    assert document.get("level") == level


# --- the handlers write one line per batch ------------------------------------------------------


def memory_runtime(mailer: InMemoryMailer | None = None) -> LambdaRuntime:
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                            sender=SENDER, rsvp_email=RSVP_EMAIL)
    return LambdaRuntime(service=service, queue=InMemoryInviteQueue(), intake=InMemoryIntake())


def test_the_invite_handler_writes_one_metric_line_per_batch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cis-InviteFunction-1")
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)
    handler = make_handler(memory_runtime)
    handler(sqs_event(body("ann@example.org"), body("ann@example.org"), "nonsense"), None)
    handler(sqs_event(), None)

    first, second = metric_lines(capsys.readouterr().out)
    assert first["FunctionName"] == "cis-InviteFunction-1"
    assert {k: v for k, v in values(first).items() if v and k != "BatchDuration"} == {
        "Records": 3, "Sent": 1, "Invited": 1, "Duplicate": 1, "Rejected": 1}
    assert values(second)["Records"] == 0


def test_a_halted_batch_says_so_in_its_metric_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cis-InviteFunction-1")
    mailer = InMemoryMailer()
    mailer.fail("ann@example.org", MailerError("SES SendingPausedException: paused",
                                               transient=True, account_level=True))
    make_handler(lambda: memory_runtime(mailer))(
        sqs_event(body("ann@example.org"), body("bob@example.org")), None)
    [document] = metric_lines(capsys.readouterr().out)
    assert values(document)["MailerHalted"] == 1
    assert values(document)["Retried"] == 2
    assert document["level"] == "ERROR"  # kept under an application log level of ERROR
    assert document["FunctionName"] == "cis-InviteFunction-1"


def test_off_lambda_the_handlers_write_no_metric_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A script, bench or worker of its own running the handler has no CloudWatch reading its
    # stdout: a line of JSON per batch would only clutter what it prints.
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    make_handler(lambda: memory_runtime(InMemoryMailer()))(
        sqs_event(body("ann@example.org")), None)
    make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service()))(sqs_event("not json"), None)
    assert capsys.readouterr().out == ""


def test_the_rsvp_handler_writes_one_metric_line_per_batch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cis-RsvpFunction-1")
    handler = make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service()))
    handler(sqs_event("not json"), None)
    [document] = metric_lines(capsys.readouterr().out)
    assert document["FunctionName"] == "cis-RsvpFunction-1"
    counted: dict[str, Any] = values(document)
    assert counted["Replies"] == 1
    assert counted["RepliesRejected"] + counted["RepliesIgnored"] == 1


def test_records_without_a_body_count_as_received_and_rejected(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cis-InviteFunction-1")
    event = sqs_event(body("ann@example.org"))
    event["Records"].append({"messageId": "m-no-body", "receiptHandle": "r"})
    make_handler(lambda: memory_runtime(InMemoryMailer()))(event, None)
    make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service()))(
        {"Records": [{"messageId": "m-no-body", "receiptHandle": "r"}]}, None)
    invite, reply = metric_lines(capsys.readouterr().out)
    assert (values(invite)["Records"], values(invite)["Sent"], values(invite)["Rejected"]) == (
        2, 1, 1)
    assert (values(reply)["Replies"], values(reply)["RepliesRejected"]) == (1, 1)
