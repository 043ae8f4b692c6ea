"""SqsInviteQueue against moto's SQS over HTTP, and its partial failures through Stubber."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from cis.adapters.sqs import SEND_ATTEMPTS, SqsInviteQueue
from cis.errors import QueueError
from cis.ports.queue import OutgoingMessage
from cis.services.invites import QueueRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
STUB_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/invites"


@pytest.fixture
def sqs_client(moto_server: str, aws_region: str) -> SQSClient:
    return boto3.client("sqs", endpoint_url=moto_server, region_name=aws_region,
                        config=NO_RETRIES)


@pytest.fixture
def calls(sqs_client: SQSClient) -> Counter[str]:
    """How often each SQS operation was called through `sqs_client`."""
    seen: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    sqs_client.meta.events.register("before-call.sqs.*", count)
    return seen


def _queue(client: SQSClient, name: str, **attributes: str) -> Iterator[str]:
    url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    try:
        yield url
    finally:
        client.delete_queue(QueueUrl=url)


@pytest.fixture
def queue_url(sqs_client: SQSClient) -> Iterator[str]:
    yield from _queue(sqs_client, f"cis-test-{uuid.uuid4().hex}")


@pytest.fixture
def fifo_queue_url(sqs_client: SQSClient) -> Iterator[str]:
    yield from _queue(sqs_client, f"cis-test-{uuid.uuid4().hex}.fifo", FifoQueue="true")


def messages(count: int, *, group: str = "launch-2026") -> list[OutgoingMessage]:
    return [OutgoingMessage(body=f'{{"n":{n}}}', deduplication_id=f"dedup-{n}", group_id=group)
            for n in range(count)]


def receive_all(queue: SqsInviteQueue, expected: int, *, within: float = 10) -> list[QueueRecord]:
    """Receive until `expected` messages arrived (SQS may hand them out a few at a time)."""
    received: list[QueueRecord] = []
    deadline = time.monotonic() + within
    while len(received) < expected and time.monotonic() < deadline:
        received += queue.receive(max_messages=10, wait_seconds=1)
    return received


def visible_and_in_flight(client: SQSClient, url: str) -> tuple[int, int]:
    attributes = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def test_twenty_five_messages_take_three_send_calls_and_three_delete_calls(
    sqs_client: SQSClient, queue_url: str, calls: Counter[str]
) -> None:
    queue = SqsInviteQueue(queue_url=queue_url, client=sqs_client)
    queue.enqueue(messages(25))
    assert calls["SendMessageBatch"] == 3

    received = receive_all(queue, 25)
    assert sorted(r.body for r in received) == sorted(m.body for m in messages(25))
    assert all(r.receipt for r in received)

    failed = queue.acknowledge([r.receipt for r in received if r.receipt])
    assert failed == []
    assert calls["DeleteMessageBatch"] == 3
    assert visible_and_in_flight(sqs_client, queue_url) == (0, 0)


def test_nothing_to_acknowledge_makes_no_call(
    sqs_client: SQSClient, queue_url: str, calls: Counter[str]
) -> None:
    assert SqsInviteQueue(queue_url=queue_url, client=sqs_client).acknowledge([]) == []
    assert calls["DeleteMessageBatch"] == 0


def test_fifo_queue_keeps_one_of_two_messages_with_the_same_deduplication_id(
    sqs_client: SQSClient, fifo_queue_url: str
) -> None:
    queue = SqsInviteQueue(queue_url=fifo_queue_url, client=sqs_client)
    first = OutgoingMessage(body='{"first":1}', deduplication_id="same", group_id="launch-2026")
    again = OutgoingMessage(body='{"again":1}', deduplication_id="same", group_id="launch-2026")
    queue.enqueue([first])
    queue.enqueue([again])
    response = sqs_client.receive_message(
        QueueUrl=fifo_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
    )
    received = response.get("Messages", [])
    assert [m["Body"] for m in received] == [first.body]
    assert received[0]["Attributes"]["MessageGroupId"] == "launch-2026"
    assert received[0]["Attributes"]["MessageDeduplicationId"] == "same"


def test_standard_queue_gets_no_fifo_parameters() -> None:
    queue_url = STUB_URL
    client = boto3.client("sqs", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "send_message_batch", {"Successful": [], "Failed": []},
            {"QueueUrl": queue_url, "Entries": [{"Id": "0", "MessageBody": '{"n":0}'}]},
        )
        SqsInviteQueue(queue_url=queue_url, client=client).enqueue(messages(1))
        stubber.assert_no_pending_responses()


def test_invalid_receipt_comes_back_as_failed_and_the_valid_one_is_deleted(
    sqs_client: SQSClient, queue_url: str
) -> None:
    queue = SqsInviteQueue(queue_url=queue_url, client=sqs_client)
    queue.enqueue(messages(1))
    [record] = receive_all(queue, 1)
    assert record.receipt is not None
    assert queue.acknowledge(["not-a-receipt-handle", record.receipt]) == [
        "not-a-receipt-handle"
    ]
    assert visible_and_in_flight(sqs_client, queue_url) == (0, 0)


def test_a_receipt_given_twice_is_deleted_once(sqs_client: SQSClient, queue_url: str) -> None:
    queue = SqsInviteQueue(queue_url=queue_url, client=sqs_client)
    queue.enqueue(messages(1))
    [record] = receive_all(queue, 1)
    assert record.receipt is not None
    assert queue.acknowledge([record.receipt, record.receipt]) == []


def test_receive_with_a_visibility_timeout_hides_the_message_for_that_long(
    sqs_client: SQSClient, queue_url: str
) -> None:
    queue = SqsInviteQueue(queue_url=queue_url, client=sqs_client)
    queue.enqueue(messages(1))
    assert len(queue.receive(wait_seconds=1, visibility_timeout=0)) == 1
    assert len(queue.receive(wait_seconds=1, visibility_timeout=60)) == 1
    assert queue.receive(wait_seconds=0) == []


def test_queue_builds_its_own_client_when_none_is_injected(
    moto_server: str, aws_region: str, queue_url: str
) -> None:
    queue = SqsInviteQueue(queue_url=queue_url, region=aws_region, endpoint_url=moto_server)
    queue.enqueue(messages(2))
    assert len(receive_all(queue, 2)) == 2


# --- partial failures, which moto never produces: Stubber -------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[SqsInviteQueue, Stubber, list[float]]]:
    client = boto3.client("sqs", region_name="us-east-1")
    sleeps: list[float] = []
    with Stubber(client) as stubber:
        queue = SqsInviteQueue(queue_url=STUB_URL, client=client, sleep=sleeps.append)
        yield queue, stubber, sleeps
        stubber.assert_no_pending_responses()


def _failed(entry_id: str, *, sender_fault: bool, code: str = "InternalError") -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": sender_fault, "Code": code, "Message": code}


def test_entries_that_failed_on_sqs_side_are_sent_again_alone(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, sleeps = stubbed
    stubber.add_response("send_message_batch", {
        "Successful": [{"Id": "0", "MessageId": "a", "MD5OfMessageBody": "x"}],
        "Failed": [_failed("1", sender_fault=False)],
    }, {"QueueUrl": STUB_URL, "Entries": ANY})
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "1", "MessageId": "b", "MD5OfMessageBody": "x"}], "Failed": []},
        {"QueueUrl": STUB_URL, "Entries": [{"Id": "1", "MessageBody": '{"n":1}'}]},
    )
    queue.enqueue(messages(2))
    assert len(sleeps) == 1


def test_entry_the_sender_is_blamed_for_is_not_retried_and_is_named(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, sleeps = stubbed
    stubber.add_response("send_message_batch", {
        "Successful": [{"Id": "0", "MessageId": "a", "MD5OfMessageBody": "x"}],
        "Failed": [_failed("1", sender_fault=True, code="InvalidMessageContents")],
    })
    with pytest.raises(QueueError) as caught:
        queue.enqueue(messages(2))
    assert "dedup-1 (InvalidMessageContents)" in str(caught.value)
    assert "dedup-0" not in str(caught.value)
    assert not caught.value.transient
    assert sleeps == []


def test_entry_failing_on_every_attempt_is_named_after_a_bounded_number_of_tries(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, sleeps = stubbed
    for _ in range(SEND_ATTEMPTS):
        stubber.add_response("send_message_batch",
                             {"Successful": [], "Failed": [_failed("0", sender_fault=False)]})
    with pytest.raises(QueueError) as caught:
        queue.enqueue(messages(1))
    assert "dedup-0 (InternalError)" in str(caught.value)
    assert caught.value.transient
    assert len(sleeps) == SEND_ATTEMPTS - 1


def test_failed_send_call_names_every_message_not_enqueued(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, _ = stubbed
    stubber.add_response("send_message_batch", {"Successful": [], "Failed": []})
    stubber.add_client_error("send_message_batch", service_error_code="AccessDenied",
                             http_status_code=403)
    with pytest.raises(QueueError) as caught:
        queue.enqueue(messages(12))
    assert "2 message(s) not confirmed enqueued: dedup-10, dedup-11" in str(caught.value)
    assert not caught.value.transient


def test_delete_call_failing_transiently_returns_its_receipts_without_raising(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, _ = stubbed
    receipts = [f"r{n}" for n in range(12)]
    stubber.add_client_error("delete_message_batch", service_error_code="ServiceUnavailable",
                             http_status_code=503)
    stubber.add_response("delete_message_batch", {
        "Successful": [{"Id": "0"}],
        "Failed": [_failed("1", sender_fault=True, code="ReceiptHandleIsInvalid")],
    }, {"QueueUrl": STUB_URL, "Entries": [{"Id": "0", "ReceiptHandle": "r10"},
                                          {"Id": "1", "ReceiptHandle": "r11"}]})
    assert queue.acknowledge(receipts) == [*receipts[:10], "r11"]


def test_delete_call_refused_for_good_raises_a_permanent_queue_error(
    stubbed: tuple[SqsInviteQueue, Stubber, list[float]],
) -> None:
    queue, stubber, _ = stubbed
    stubber.add_client_error("delete_message_batch",
                             service_error_code="AWS.SimpleQueueService.NonExistentQueue",
                             http_status_code=400)
    with pytest.raises(QueueError) as caught:
        queue.acknowledge(["r0"])
    assert not caught.value.transient
