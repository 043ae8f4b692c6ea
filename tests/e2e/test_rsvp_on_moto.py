"""RSVP end to end on a moto server: invite over SES, replies through S3 and SQS, read back."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.sqs import SqsInviteQueue
from cis.domain.model import Invitee, InviteState, PartStat
from cis.lambda_handler import aws_rsvp_runtime, aws_runtime, make_handler, make_rsvp_handler
from cis.services.producer import enqueue_invites
from tests.replies import reply_calendar, reply_email
from tests.support import RSVP_EMAIL, sample_event

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
