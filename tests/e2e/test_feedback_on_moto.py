"""Delivery feedback end to end on a moto server: SES sends, SNS reports, suppressed invites.

The invite handler sends over SES (each message tagged with its event); SES's reports, the
documentation's samples pointed at those messages with the tags SES was given, go through an
SNS topic to an SQS queue as SES publishes them; the feedback handler reads them off it. The
next invitation to the bounced address, for another event, is not sent; the `cis` command
lists and lifts the suppression on the same table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest

import cis.cli
from cis.domain.delivery import DeliveryStatus
from cis.domain.model import Invitee
from cis.lambda_handler import FeedbackRuntime, aws_feedback_runtime, make_feedback_handler
from tests.e2e.test_lambda_on_moto import (
    DISTINCT,
    Stack,
    enqueue,
    lambda_event,
    receive,
    stack,
)
from tests.feedback import fixture
from tests.support import sample_event

__all__ = ["stack"]  # the fixture, shared with the handler's own tests

BOUNCING = "dave@example.net"


class Reports:
    """An SNS topic subscribed by an SQS queue, without raw delivery, as the stack has it."""

    def __init__(self, moto_server: str, region: str) -> None:
        self.sns = boto3.client("sns", endpoint_url=moto_server, region_name=region)
        self.sqs = boto3.client("sqs", endpoint_url=moto_server, region_name=region)
        suffix = uuid.uuid4().hex[:12]
        self.topic = self.sns.create_topic(Name=f"cis-feedback-{suffix}")["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=f"cis-feedback-{suffix}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=queue_arn)

    def publish(self, *reports: dict[str, Any]) -> None:
        for report in reports:
            self.sns.publish(TopicArn=self.topic, Message=json.dumps(report))

    def batch(self, expected: int) -> dict[str, Any]:
        """Take `expected` messages off the queue, shaped as the SQS event source hands them."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(messages) < expected and time.monotonic() < deadline:
            messages += self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=1).get("Messages", [])
        assert len(messages) == expected
        return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                             "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]}


def tagged_sends(stack: Stack) -> dict[str, dict[str, list[str]]]:
    """The tags each SendEmail carried, by recipient, as SES would publish them."""
    tags: dict[str, dict[str, list[str]]] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        recipient = params["Destination"]["ToAddresses"][0].lower()
        tags[recipient] = {"ses:configuration-set": ["cis"], **{
            tag["Name"]: [tag["Value"]] for tag in params.get("EmailTags", [])}}

    def watch(runtime: Any) -> None:
        runtime.service.mailer.client.meta.events.register(
            "provide-client-params.sesv2.SendEmail", record)

    stack.setups.append(watch)
    return tags


def about(stack: Stack, name: str, address: str, tags: dict[str, dict[str, list[str]]]) -> (
        dict[str, Any]):
    """The documented sample `name`, about the message SES accepted for `address`."""
    record = stack.repository.get_attendee(stack.event.uid, address)
    assert record is not None and record.delivery_id is not None
    report = fixture(name)
    report["mail"].update(messageId=record.delivery_id, destination=[record.email],
                          tags=tags[address])
    for key, listed in (("bounce", "bouncedRecipients"), ("complaint", "complainedRecipients")):
        if key in report:
            report[key][listed] = [{**report[key][listed][0], "emailAddress": record.email}]
    if "delivery" in report:
        report["delivery"]["recipients"] = [record.email]
    return report


def feedback_calls(runtime: FeedbackRuntime, calls: Counter[str]) -> FeedbackRuntime:
    def count(event_name: str, **_: Any) -> None:
        calls[event_name.split(".")[-1]] += 1

    runtime.service.store.client.meta.events.register(  # type: ignore[attr-defined]
        "before-call.dynamodb.*", count)
    return runtime


def test_a_bounce_through_sns_suppresses_the_address_for_every_later_invitation(
    stack: Stack, moto_server: str, capsys: pytest.CaptureFixture[str],
) -> None:
    tags = tagged_sends(stack)
    invite = stack.handler()
    enqueue(stack)
    assert invite(lambda_event(stack, receive(stack, 6)), None) == {"batchItemFailures": []}
    assert tags[BOUNCING]["cis-event"] == [stack.event.uid]  # SES publishes them back

    reports = Reports(moto_server, stack.region)
    reports.publish(about(stack, "event-bounce", BOUNCING, tags),
                    about(stack, "event-delivery", "ann@example.org", tags),
                    about(stack, "event-open", "ann@example.org", tags),
                    about(stack, "event-send", "erin@example.com", tags))
    batch = reports.batch(4)
    assert all(json.loads(r["body"])["Type"] == "Notification" for r in batch["Records"])
    calls: Counter[str] = Counter()
    feedback = make_feedback_handler(lambda: feedback_calls(aws_feedback_runtime(), calls))

    assert feedback(batch, None) == {"batchItemFailures": []}

    dave = stack.repository.get_attendee(stack.event.uid, BOUNCING)
    assert dave is not None and dave.delivery_status is DeliveryStatus.BOUNCED
    stats = stack.repository.get_statistics(stack.event.uid)
    assert (stats.invites_sent, stats.delivered, stats.bounced) == (5, 1, 1)
    suppression = stack.repository.get_suppression(BOUNCING)
    assert suppression is not None and suppression.event_uid == stack.event.uid
    # Per report acted on: a consistent read of the attendee, then one write with it all.
    assert calls == {"GetItem": 2, "TransactWriteItems": 2}

    calls.clear()
    assert feedback(batch, None) == {"batchItemFailures": []}  # SQS delivers it again
    assert stack.repository.get_statistics(stack.event.uid) == stats
    assert calls == {"GetItem": 2}

    sent_before = stack.sent_to()
    stack.event = sample_event(uid=f"e2e-next-{uuid.uuid4().hex[:12]}")
    enqueue(stack, [Invitee("Dave@Example.net"), Invitee("erin@example.com")])
    assert invite(lambda_event(stack, receive(stack, 2)), None) == {"batchItemFailures": []}
    sent_after = stack.sent_to()
    assert sent_after[BOUNCING] == sent_before[BOUNCING] == 1
    assert sent_after["erin@example.com"] == 2
    next_stats = stack.repository.get_statistics(stack.event.uid)
    assert (next_stats.invites_sent, next_stats.suppressed) == (1, 1)
    assert stack.repository.get_attendee(stack.event.uid, BOUNCING) is None

    aws = ["--dynamodb-table", stack.table, "--region", stack.region,
           "--endpoint-url", moto_server]
    capsys.readouterr()  # the handlers' metric lines, written on stdout as on Lambda
    assert cis.cli.main(["suppressions", "list", *aws]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{BOUNCING}  bounce (Permanent/General; smtp; 550 5.1.1 user")
    assert cis.cli.main(["suppressions", "lift", BOUNCING, *aws]) == 0
    assert "Lifted dave@example.net" in capsys.readouterr().out

    enqueue(stack, [Invitee("Dave@Example.net")])
    assert invite(lambda_event(stack, receive(stack, 1)), None) == {"batchItemFailures": []}
    assert stack.sent_to()[BOUNCING] == 2
    assert set(stack.sent_to()) == DISTINCT
