"""RSVP end to end on a moto server: invite over SES, replies through S3 and SQS, read back."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from typing import Any

import boto3
import pytest

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.memory import InMemoryMailer
from cis.adapters.sqs import SqsInviteQueue
from cis.bootstrap import build_service
from cis.domain.model import Invitee, InviteState, PartStat
from cis.domain.rsvp import MAILBOX, MAX_REPLY_HISTORY, MAX_SOURCE_LENGTH
from cis.lambda_handler import aws_rsvp_runtime, aws_runtime, make_handler, make_rsvp_handler
from cis.ports.queue import QueueRecord
from cis.services.producer import enqueue_invites
from tests.replies import (
    AMBIGUOUS_FROM,
    UID,
    UNREADABLE_REPLIES,
    reply_calendar,
    reply_email,
    with_headers,
)
from tests.support import RSVP_EMAIL, SENDER, body, sample_event

BUCKET_PREFIX = "rsvp/"
ATTENDEES = [Invitee("ann@example.org", name="Ann"), Invitee("Bob@Example.net", name="Bob"),
             Invitee("carol@example.org", name="Carol")]


@pytest.fixture
def deployed(moto_server: str, aws_region: str, dynamodb_table: str, dynamodb_client: Any,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=moto_server, region_name=aws_region)

    sqs, s3, sesv2 = client("sqs"), client("s3"), client("sesv2")
    suffix = uuid.uuid4().hex[:12]
    invite_queue = sqs.create_queue(QueueName=f"invites-{suffix}")["QueueUrl"]
    rsvp_queue = sqs.create_queue(QueueName=f"rsvp-{suffix}")["QueueUrl"]
    rsvp_queue_arn = sqs.get_queue_attributes(
        QueueUrl=rsvp_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket = f"rsvp-mail-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{
            "QueueArn": rsvp_queue_arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": BUCKET_PREFIX}]}},
        }],
    })
    sender = f"invites-{suffix}@cis-e2e.example.com"
    sesv2.create_email_identity(EmailIdentity=sender)
    for name, value in {
        "REGION": aws_region, "DYNAMODB_TABLE": dynamodb_table, "SENDER": sender,
        "RSVP_EMAIL": RSVP_EMAIL, "SQS_URL": invite_queue, "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(name, value)
    return {"sqs": sqs, "s3": s3, "bucket": bucket, "invite_queue": invite_queue,
           "rsvp_queue": rsvp_queue, "repository": DynamoDBInviteRepository(
               table_name=dynamodb_table, client=dynamodb_client)}


def drain(sqs: Any, queue_url: str, expected: int) -> dict[str, Any]:
    """Receive `expected` messages and shape them as the SQS event source would."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(messages) < expected and time.monotonic() < deadline:
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == expected
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"],
                         "body": m["Body"], "eventSource": "aws:sqs"} for m in messages]}


def test_replies_stored_by_ses_update_attendees_and_statistics_exactly_once(
    deployed: dict[str, Any],
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    event = sample_event(uid=f"rsvp-{uuid.uuid4().hex[:12]}")
    enqueue_invites(SqsInviteQueue(queue_url=deployed["invite_queue"], client=sqs), event,
                    ATTENDEES)
    invite = make_handler(aws_runtime)
    assert invite(drain(sqs, deployed["invite_queue"], 3), None) == {"batchItemFailures": []}

    replies = {
        "ann": reply_email(reply_calendar("ann@example.org", "ACCEPTED", uid=event.uid)),
        "bob": reply_email(reply_calendar("BOB@EXAMPLE.NET", "DECLINED", uid=event.uid,
                                          mailto="MAILTO:",
                                          prodid="-//Microsoft Corporation//Outlook 16.0 "
                                                 "MIMEDIR//EN"), sender="Bob@Example.net"),
        "carol": reply_email(reply_calendar("carol@example.org", "TENTATIVE", uid=event.uid),
                             sender="carol@example.org", layout="attachment"),
        "forged": reply_email(reply_calendar("carol@example.org", "DECLINED", uid=event.uid),
                              sender="mallory@example.net"),
        "ooo": reply_email(None, sender="ann@example.org"),
    }
    for name, raw in replies.items():
        s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}{name}", Body=raw)

    # S3 announces a new notification configuration with an s3:TestEvent; it is ignored.
    batch = drain(sqs, deployed["rsvp_queue"], len(replies) + 1)
    assert sum("s3:TestEvent" in r["body"] for r in batch["Records"]) == 1
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    assert rsvp(batch, None) == {"batchItemFailures": []}

    statuses = {a.email: repository.get_attendee(event.uid, a.email).partstat for a in ATTENDEES}
    assert statuses == {"ann@example.org": PartStat.ACCEPTED,
                        "Bob@Example.net": PartStat.DECLINED,
                        "carol@example.org": PartStat.TENTATIVE}
    bob = repository.get_attendee(event.uid, "bob@example.net")
    assert bob.state is InviteState.SENT
    assert bob.history[-1].source == "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN"
    stats = repository.get_statistics(event.uid)
    assert stats.rsvp == {"ACCEPTED": 1, "DECLINED": 1, "TENTATIVE": 1}
    assert stats.invites_sent == 3

    assert rsvp(batch, None) == {"batchItemFailures": []}
    assert repository.get_statistics(event.uid) == stats
    assert len(repository.get_attendee(event.uid, "ann@example.org").history) == 2
    assert repository.recount(event.uid) == stats
    # The counters as stored, summed over the event's statistics items.
    stored: dict[str, int] = {}
    for item in deployed["repository"].client.query(
        TableName=repository.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"event#{event.uid}"}, ":s": {"S": "statistics"}},
        ConsistentRead=True,
    )["Items"]:
        for name, value in item.items():
            if "N" in value:
                stored[name] = stored.get(name, 0) + int(value["N"])
    assert stored["replies_applied"] == 3
    mailbox = deployed["repository"].client.query(
        TableName=repository.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": "event#_rsvp"}, ":s": {"S": "statistics"}},
    )["Items"]
    # Each delivered twice, each counted once: the out-of-office and the forgery.
    assert sum(int(item.get("replies_ignored", {"N": "0"})["N"]) for item in mailbox) == 1
    assert stored["replies_rejected"] == 1


def invite_ann(repository: DynamoDBInviteRepository) -> None:
    """Record ann as sent an invitation to the UID the hostile replies answer."""
    inviter = build_service(repository=repository, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL)
    report = inviter.process_batch([QueueRecord("m0", body("ann@example.org", uid=UID))])
    assert report.batch_item_failures() == {"batchItemFailures": []}


def counters(repository: DynamoDBInviteRepository, event_uid: str) -> dict[str, int]:
    """The event's reply counters, summed over its statistics shards."""
    items = repository.client.query(
        TableName=repository.table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"event#{event_uid}"}, ":s": {"S": "statistics"}},
    )["Items"]
    totals: dict[str, int] = {}
    for item in items:
        for name, value in item.items():
            if name.startswith("replies_") or name == "counter_proposals":
                totals[name] = totals.get(name, 0) + int(value["N"])
    return {name: amount for name, amount in totals.items() if amount}


def test_replies_that_can_never_be_applied_are_rejected_once_not_retried(
    deployed: dict[str, Any],
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    invite_ann(repository)
    for number, (raw, _) in enumerate(UNREADABLE_REPLIES.values()):
        s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}{number}", Body=raw)
    batch = drain(sqs, deployed["rsvp_queue"], len(UNREADABLE_REPLIES) + 1)
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    assert rsvp(batch, None) == {"batchItemFailures": []}
    assert rsvp(batch, None) == {"batchItemFailures": []}
    assert counters(repository, MAILBOX) == {"replies_rejected": len(UNREADABLE_REPLIES)}
    ann = repository.get_attendee(UID, "ann@example.org")
    assert (ann.partstat, len(ann.history)) == (PartStat.NEEDS_ACTION, 1)


def inline(raw: bytes, message_id: str) -> dict[str, str]:
    """An SQS record carrying an SES receipt notification with the message in it."""
    receipt = {"action": {"type": "SNS", "encoding": "BASE64"},
               **{f"{check}Verdict": {"status": "PASS"} for check in ("spf", "dkim", "dmarc")}}
    notification = {"notificationType": "Received", "receipt": receipt, "mail": {},
                    "content": base64.b64encode(raw).decode("ascii")}
    return {"messageId": message_id, "body": json.dumps(notification)}


def test_replies_with_huge_prodids_fit_the_attendee_item(deployed: dict[str, Any]) -> None:
    repository = deployed["repository"]
    invite_ann(repository)
    prodid = "-//Big Corp//" + "x" * 150_000
    replies = [reply_email(reply_calendar(
        "ann@example.org", partstat, prodid=prodid,
        dtstamp=dt.datetime(2026, 11, 28, 12, minute, tzinfo=dt.UTC)))
        for minute, partstat in enumerate(["ACCEPTED", "DECLINED", "TENTATIVE", "ACCEPTED"])]
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    event = {"Records": [inline(raw, f"m{n}") for n, raw in enumerate(replies)]}
    assert rsvp(event, None) == {"batchItemFailures": []}
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.partstat is PartStat.ACCEPTED
    assert [len(entry.source) for entry in ann.history[1:]] == [MAX_SOURCE_LENGTH] * 4


def test_an_attendees_history_on_dynamodb_keeps_the_newest_replies(
    deployed: dict[str, Any],
) -> None:
    repository = deployed["repository"]
    invite_ann(repository)
    start = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    answers = ["ACCEPTED", "DECLINED"]
    replies = [reply_email(reply_calendar("ann@example.org", answers[n % 2],
                                          dtstamp=start + dt.timedelta(minutes=n)))
               for n in range(MAX_REPLY_HISTORY + 5)]
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    for first in range(0, len(replies), 10):
        batch = [inline(raw, f"m{first + n}") for n, raw in enumerate(replies[first:first + 10])]
        assert rsvp({"Records": batch}, None) == {"batchItemFailures": []}
    ann = repository.get_attendee(UID, "ann@example.org")
    assert len(ann.history) == 1 + MAX_REPLY_HISTORY
    assert ann.replies_dropped == 5
    assert ann.history[1].at == start + dt.timedelta(minutes=5)
    assert ann.partstat is PartStat.ACCEPTED
    assert counters(repository, UID) == {"replies_applied": MAX_REPLY_HISTORY + 5}


def test_replies_whose_from_is_not_exactly_one_mailbox_answer_for_no_one(
    deployed: dict[str, Any],
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    invite_ann(repository)
    for number, (raw, _) in enumerate(AMBIGUOUS_FROM.values()):
        s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}{number}", Body=raw)
    batch = drain(sqs, deployed["rsvp_queue"], len(AMBIGUOUS_FROM) + 1)
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    for first in range(0, len(batch["Records"]), 10):
        assert rsvp({"Records": batch["Records"][first:first + 10]}, None) == {
            "batchItemFailures": []}
    assert counters(repository, UID) == {"replies_rejected": len(AMBIGUOUS_FROM)}
    ann = repository.get_attendee(UID, "ann@example.org")
    assert (ann.partstat, len(ann.history)) == (PartStat.NEEDS_ACTION, 1)


def test_a_reply_from_the_future_is_rejected_and_the_next_answer_applied(
    deployed: dict[str, Any],
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    invite_ann(repository)
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}future", Body=reply_email(
        reply_calendar("ann@example.org", "DECLINED", dtstamp=tomorrow)))
    rsvp = make_rsvp_handler(aws_rsvp_runtime)
    assert rsvp(drain(sqs, deployed["rsvp_queue"], 2), None) == {"batchItemFailures": []}
    assert counters(repository, UID) == {"replies_rejected": 1}
    s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}genuine", Body=reply_email(
        reply_calendar("ann@example.org", "ACCEPTED",
                       dtstamp=dt.datetime.now(dt.UTC).replace(microsecond=0))))
    assert rsvp(drain(sqs, deployed["rsvp_queue"], 1), None) == {"batchItemFailures": []}
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED


def test_a_reply_ses_scanned_as_spam_or_a_virus_is_not_applied(
    deployed: dict[str, Any],
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    invite_ann(repository)
    declined = reply_email(reply_calendar("ann@example.org", "DECLINED"))
    flagged = [with_headers(declined, "X-SES-Spam-Verdict", "FAIL"),
               with_headers(declined, "X-SES-Virus-Verdict", "FAIL")]
    genuine = with_headers(reply_email(reply_calendar("ann@example.org", "ACCEPTED")),
                           "X-SES-Spam-Verdict", "PASS")
    for number, raw in enumerate([*flagged, genuine]):
        s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}scan-{number}", Body=raw)
    batch = drain(sqs, deployed["rsvp_queue"], len(flagged) + 2)
    assert make_rsvp_handler(aws_rsvp_runtime)(batch, None) == {"batchItemFailures": []}
    assert counters(repository, UID) == {"replies_rejected": 2, "replies_applied": 1}
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED
