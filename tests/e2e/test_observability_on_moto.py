"""The deployed handlers on a moto server, as operators see them: metric lines and log records.

The handlers build their own boto3 clients from the environment and talk to moto over HTTP;
faults are injected on those clients as AWS would answer them (a throttle, a transaction
conflict, a paused account, a rejected address).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cis.domain.model import InviteState
from cis.lambda_handler import LambdaRuntime, aws_rsvp_runtime, make_rsvp_handler

# `stack` and `deployed` are the fixtures of those modules, used here as they are.
from tests.e2e.test_lambda_on_moto import (  # noqa: F401
    ATTENDEES,
    THROTTLED,
    Stack,
    enqueue,
    lambda_event,
    receive,
    stack,
    throttle,
)
from tests.e2e.test_rsvp_on_moto import BUCKET_PREFIX, deployed, drain  # noqa: F401
from tests.emf import metric_lines, values
from tests.replies import reply_calendar, reply_email

FUNCTION = "cis-InviteFunction-e2e"


@pytest.fixture(autouse=True)
def _on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)


def nonzero(document: dict[str, Any]) -> dict[str, float]:
    return {name: value for name, value in values(document).items()
            if value and name != "BatchDuration"}


def refuse_with(runtime: LambdaRuntime, code: str, message: str,
                recipients: set[str] | None = None) -> None:
    """Make SES answer every send (to `recipients`, when given) with this error."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        request = json.loads(params["body"])
        if recipients is None or request["Destination"]["ToAddresses"][0].lower() in recipients:
            raise ClientError({"Error": {"Code": code, "Message": message},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail")

    mailer: Any = runtime.service.mailer
    mailer.client.meta.events.register("before-call.sesv2.SendEmail", refuse)


def conflict_once(runtime: LambdaRuntime, times: int) -> Callable[[], int]:
    """Cancel the next `times` DynamoDB transactions for a conflict, as DynamoDB does."""
    left = [times]

    def cancel(params: dict[str, Any], **_: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            actions = len(json.loads(params["body"])["TransactItems"])
            raise ClientError({
                "Error": {"Code": "TransactionCanceledException",
                          "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "TransactionConflict"}]
                + [{"Code": "None"}] * (actions - 1),
                "ResponseMetadata": {"HTTPStatusCode": 400}}, "TransactWriteItems")

    repository: Any = runtime.service.repository
    repository.client.meta.events.register("before-call.dynamodb.TransactWriteItems", cancel)
    return lambda: left[0]


# --- metrics ------------------------------------------------------------------------------------


def test_a_batch_writes_one_metric_line_with_its_counts(
    stack: Stack, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    enqueue(stack)
    assert stack.handler()(lambda_event(stack, receive(stack, 6)), None) == {
        "batchItemFailures": []}

    [document] = metric_lines(capsys.readouterr().out)
    assert document["FunctionName"] == FUNCTION
    assert nonzero(document) == {"Records": 6, "Sent": 5, "Invited": 5, "Duplicate": 1}
    assert values(document)["BatchDuration"] > 0


def test_a_throttled_send_is_counted_and_its_records_retried(
    stack: Stack, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    enqueue(stack)
    messages = receive(stack, 6)
    stack.setups.append(lambda runtime: throttle(runtime, set(THROTTLED)))
    result = stack.handler()(lambda_event(stack, messages), None)

    [document] = metric_lines(capsys.readouterr().out)
    counted = values(document)
    assert counted["Throttled"] == 1
    assert counted["Retried"] == len(result["batchItemFailures"]) >= 1
    assert counted["Sent"] == len(messages) - counted["Retried"] - counted["Duplicate"]


def test_dynamodb_transaction_conflicts_are_counted_and_every_attendee_still_sent(
    stack: Stack, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    enqueue(stack)
    remaining: list[Callable[[], int]] = []
    stack.setups.append(lambda runtime: remaining.append(conflict_once(runtime, 2)))
    assert stack.handler()(lambda_event(stack, receive(stack, 6)), None) == {
        "batchItemFailures": []}

    assert remaining[0]() == 0
    [document] = metric_lines(capsys.readouterr().out)
    assert values(document)["Conflicted"] == 2
    assert values(document)["Sent"] == 5
    assert stack.sent_to() == dict.fromkeys({a.email.lower() for a in ATTENDEES}, 1)


def test_an_account_refusing_every_send_sets_mailer_halted(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    enqueue(stack)
    stack.setups.append(lambda runtime: refuse_with(
        runtime, "SendingPausedException",
        f"Sending paused for this account. Sender: {stack.sender_address}"))
    result = stack.handler()(lambda_event(stack, receive(stack, 6)), None)

    assert len(result["batchItemFailures"]) == 6
    [document] = metric_lines(capsys.readouterr().out)
    assert values(document)["MailerHalted"] == 1
    assert values(document)["Retried"] == 6
    assert stack.sender_address not in caplog.text
    [halt] = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "cis"]
    assert getattr(halt, "halted", "").startswith("mailer: SES SendingPausedException")


def test_the_rsvp_function_writes_its_own_metric_line(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    uid = f"rsvp-{uuid.uuid4().hex[:12]}"
    s3 = deployed["s3"]
    s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}stray", Body=reply_email(
        reply_calendar("ann@example.org", "ACCEPTED", uid=uid)))
    s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}ooo",
                  Body=reply_email(None, sender="ann@example.org"))
    batch = drain(deployed["sqs"], deployed["rsvp_queue"], 3)  # with S3's test event
    capsys.readouterr()

    assert make_rsvp_handler(aws_rsvp_runtime)(batch, None) == {"batchItemFailures": []}

    [document] = metric_lines(capsys.readouterr().out)
    assert document["FunctionName"] == FUNCTION
    counted = values(document)
    assert counted["Replies"] == 3
    assert counted["RepliesRejected"] + counted["RepliesIgnored"] == 3
    assert counted["RepliesRetried"] == 0


# --- log records --------------------------------------------------------------------------------


def test_a_rejected_address_is_masked_in_the_logs_the_result_and_the_record(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    enqueue(stack)
    stack.setups.append(lambda runtime: refuse_with(
        runtime, "MessageRejected", "Address blacklisted: carol@example.org; from "
        f"<{stack.sender_address}>", {"carol@example.org"}))
    handler = stack.handler()
    assert handler(lambda_event(stack, receive(stack, 6)), None) == {"batchItemFailures": []}

    [failed] = [r for r in caplog.records if getattr(r, "outcome", None) == "failed"]
    assert failed.attendee == "c***@example.org"  # type: ignore[attr-defined]
    assert failed.reason == ("mailer: SES MessageRejected: Address blacklisted: "  # type: ignore[attr-defined]
                             f"c***@example.org; from <i***@{stack.sender_address.split('@')[1]}>")
    for text in (caplog.text, capsys.readouterr().out):
        assert "carol@" not in text
        assert stack.sender_address not in text
    record = stack.repository.get_attendee(stack.event.uid, "carol@example.org")
    assert record is not None and record.state is InviteState.FAILED
    assert "carol@" not in (record.failure_reason or "")
    sent = [r for r in caplog.records if getattr(r, "outcome", None) == "sent"]
    assert len(sent) == 4
    assert all(r.delivery_id and r.sent_as == "invitation" for r in sent)  # type: ignore[attr-defined]


# --- a later message format ---------------------------------------------------------------------


def test_a_later_format_stays_on_the_queue_then_reaches_the_dead_letter_queue(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,  # noqa: F811
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    dead_letters = stack.sqs.create_queue(QueueName=f"cis-e2e-dlq-{uuid.uuid4().hex}")["QueueUrl"]
    dead_letters_arn = stack.sqs.get_queue_attributes(
        QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.sqs.set_queue_attributes(QueueUrl=stack.queue_url, Attributes={"RedrivePolicy": (
        json.dumps({"deadLetterTargetArn": dead_letters_arn, "maxReceiveCount": "2"}))})
    enqueue(stack, ATTENDEES[:1])
    later = {"version": 2, "request": {
        "uid": stack.event.uid, "email": "bob@example.org", "locale": "de"},
        "event": {"uid": stack.event.uid, "title": "v2 event"}}
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=json.dumps(later))
    handler = stack.handler()

    for delivery in (1, 2):
        messages = receive(stack, 2 if delivery == 1 else 1)
        result = handler(lambda_event(stack, messages), None)
        [handed_back] = [m for m in messages if '"version": 2' in m["Body"]]
        assert result == {"batchItemFailures": [{"itemIdentifier": handed_back["MessageId"]}]}
        stack.sqs.change_message_visibility(QueueUrl=stack.queue_url,
                                            ReceiptHandle=handed_back["ReceiptHandle"],
                                            VisibilityTimeout=0)

    # Received maxReceiveCount times: SQS moves it to the dead-letter queue, whole.
    assert stack.sqs.receive_message(QueueUrl=stack.queue_url, WaitTimeSeconds=1).get(
        "Messages", []) == []
    [kept] = stack.sqs.receive_message(QueueUrl=dead_letters, WaitTimeSeconds=1)["Messages"]
    assert json.loads(kept["Body"]) == later
    assert stack.repository.get_attendee(stack.event.uid, "bob@example.org") is None
    assert stack.repository.get_statistics(stack.event.uid).requests_rejected == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and getattr(r, "format_version", None) == "2"]
    assert len(warnings) == 2
    assert [values(d)["UnknownVersion"] for d in metric_lines(capsys.readouterr().out)] == [1, 1]
    stack.sqs.delete_queue(QueueUrl=dead_letters)
