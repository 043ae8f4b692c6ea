"""SqsDeadLetterQueue against moto's SQS over HTTP, and its partial failures through Stubber."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from cis.adapters.sqs_redrive import SqsDeadLetterQueue
from cis.errors import QueueError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/invites-dlq"
SOURCE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/invites"


@dataclass(frozen=True)
class Pair:
    """A source queue whose RedrivePolicy names the dead-letter queue."""

    source: str
    dead_letters: str


@pytest.fixture
def sqs_client(moto_server: str, aws_region: str) -> SQSClient:
    return boto3.client("sqs", endpoint_url=moto_server, region_name=aws_region,
                        config=NO_RETRIES)


def make_pair(client: SQSClient, *, fifo: bool = False) -> Pair:
    suffix = ".fifo" if fifo else ""
    extra = {"FifoQueue": "true"} if fifo else {}
    name = f"cis-test-{uuid.uuid4().hex}"
    dead_letters = client.create_queue(QueueName=f"{name}-dlq{suffix}",
                                       Attributes=extra)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=dead_letters,
                                      AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = client.create_queue(QueueName=f"{name}{suffix}", Attributes={
        **extra, "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn,
                                              "maxReceiveCount": "5"})})["QueueUrl"]
    return Pair(source, dead_letters)


@pytest.fixture
def pair(sqs_client: SQSClient) -> Iterator[Pair]:
    made = make_pair(sqs_client)
    yield made
    for url in (made.source, made.dead_letters):
        sqs_client.delete_queue(QueueUrl=url)


def drain(client: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every message of the queue, with attributes, deleted as read."""
    found: list[dict[str, Any]] = []
    while True:
        response = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
        messages = response.get("Messages", [])
        if not messages:
            return found
        found.extend(dict(message) for message in messages)
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])


def test_moved_messages_keep_their_body_and_attributes_and_leave_the_dead_letter_queue(
    sqs_client: SQSClient, pair: Pair,
) -> None:
    attributes: dict[str, Any] = {
        "kind": {"DataType": "String", "StringValue": "invite"},
        "attempt": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    for number in range(3):
        sqs_client.send_message(QueueUrl=pair.dead_letters, MessageBody=f'{{"n": {number}}}',
                                MessageAttributes=attributes)
    queue = SqsDeadLetterQueue(queue_url=pair.dead_letters, client=sqs_client)

    moved = queue.move(pair.source, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert (moved.received, moved.moved, moved.not_deleted, moved.problems) == (3, 3, 0, [])
    arrived = drain(sqs_client, pair.source)
    assert sorted(m["Body"] for m in arrived) == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    for message in arrived:
        assert {name: {key: value for key, value in attribute.items()
                       if key in ("DataType", "StringValue", "BinaryValue")}
                for name, attribute in message["MessageAttributes"].items()} == attributes
    assert drain(sqs_client, pair.dead_letters) == []


def test_a_move_takes_no_more_than_asked(sqs_client: SQSClient, pair: Pair) -> None:
    for number in range(5):
        sqs_client.send_message(QueueUrl=pair.dead_letters, MessageBody=str(number))
    queue = SqsDeadLetterQueue(queue_url=pair.dead_letters, client=sqs_client)

    moved = queue.move(pair.source, max_messages=2, visibility_timeout=30, wait_seconds=1)

    assert (moved.received, moved.moved) == (2, 2)
    assert len(drain(sqs_client, pair.source)) == 2
    assert len(drain(sqs_client, pair.dead_letters)) == 3


def test_fifo_messages_go_back_in_their_group_deduplicated_by_their_id(
    sqs_client: SQSClient,
) -> None:
    pair = make_pair(sqs_client, fifo=True)
    sqs_client.send_message(QueueUrl=pair.dead_letters, MessageBody="a", MessageGroupId="event-1",
                            MessageDeduplicationId="first")
    queue = SqsDeadLetterQueue(queue_url=pair.dead_letters, client=sqs_client)

    moved = queue.move(pair.source, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert moved.moved == 1
    [arrived] = drain(sqs_client, pair.source)
    assert arrived["Body"] == "a"
    assert arrived["Attributes"]["MessageGroupId"] == "event-1"
    assert arrived["Attributes"]["MessageDeduplicationId"] != "first"


def test_the_source_is_the_queue_whose_redrive_policy_names_the_dead_letter_queue(
    sqs_client: SQSClient, pair: Pair,
) -> None:
    queue = SqsDeadLetterQueue(queue_url=pair.dead_letters, client=sqs_client)

    assert [url.rsplit("/", 1)[1] for url in queue.source_queues()] == [
        pair.source.rsplit("/", 1)[1]]
    assert queue.dead_letter_target(pair.source) == queue.arn()
    assert queue.dead_letter_target(pair.dead_letters) is None


def test_an_empty_dead_letter_queue_moves_nothing(sqs_client: SQSClient, pair: Pair) -> None:
    queue = SqsDeadLetterQueue(queue_url=pair.dead_letters, client=sqs_client)

    moved = queue.move(pair.source, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert (moved.received, moved.moved, moved.problems) == (0, 0, [])
    assert queue.approximate_depth() == (0, 0)


def test_a_missing_queue_is_a_permanent_error_naming_it(
    sqs_client: SQSClient, moto_server: str,
) -> None:
    missing = f"{moto_server}/123456789012/no-such-queue"
    queue = SqsDeadLetterQueue(queue_url=missing, client=sqs_client)

    with pytest.raises(QueueError, match=r"no queue at .*/no-such-queue") as raised:
        queue.arn()
    assert not raised.value.transient


# --- partial failures, through Stubber -------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[SqsDeadLetterQueue, Stubber]]:
    client = boto3.client("sqs", region_name="us-east-1", config=NO_RETRIES)
    with Stubber(client) as stubber:
        yield SqsDeadLetterQueue(queue_url=DLQ_URL, client=client), stubber
        stubber.assert_no_pending_responses()


def received(count: int) -> dict[str, Any]:
    return {"Messages": [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": f"b{n}",
                          "MD5OfBody": "x"} for n in range(count)]}


def test_a_message_sqs_refused_to_take_stays_in_the_dead_letter_queue(
    stubbed: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    stubber.add_response("receive_message", received(2))
    stubber.add_response("send_message_batch", {
        "Successful": [{"Id": "0", "MessageId": "n0", "MD5OfMessageBody": "x"}],
        "Failed": [{"Id": "1", "SenderFault": True, "Code": "InvalidParameterValue"}]})
    # Only the message SQS took is deleted.
    stubber.add_response("delete_message_batch", {"Successful": [{"Id": "0"}], "Failed": []},
                         {"QueueUrl": DLQ_URL, "Entries": [{"Id": "0", "ReceiptHandle": "r0"}]})

    moved = queue.move(SOURCE_URL, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert (moved.moved, moved.not_deleted) == (1, 0)
    assert moved.problems == ["message m1 not sent: InvalidParameterValue"]


def test_a_send_that_failed_as_a_whole_deletes_nothing(
    stubbed: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    stubber.add_response("receive_message", received(3))
    stubber.add_client_error("send_message_batch", "ServiceUnavailable", http_status_code=503)

    moved = queue.move(SOURCE_URL, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert moved.moved == 0
    assert len(moved.problems) == 1
    assert moved.problems[0].startswith("3 message(s) not sent: SQS refused to send to")


def test_a_message_sent_and_not_deleted_is_reported_to_be_sent_again_later(
    stubbed: tuple[SqsDeadLetterQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    stubber.add_response("receive_message", received(2))
    stubber.add_response("send_message_batch", {"Successful": [
        {"Id": "0", "MessageId": "n0", "MD5OfMessageBody": "x"},
        {"Id": "1", "MessageId": "n1", "MD5OfMessageBody": "x"}], "Failed": []})
    stubber.add_response("delete_message_batch", {
        "Successful": [{"Id": "0"}],
        "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]},
        {"QueueUrl": DLQ_URL, "Entries": ANY})

    moved = queue.move(SOURCE_URL, max_messages=10, visibility_timeout=30, wait_seconds=1)

    assert (moved.moved, moved.not_deleted) == (2, 1)
    assert moved.problems == ["1 message(s) sent but not deleted, a later run sends them "
                              "again: InternalError"]
