"""The load model answers like AWS under contention, and one event sent by five consumers holds.

The model (tests/load/aws_under_load.py) must cancel overlapping DynamoDB writes and refuse
sends above the SES rate, or the run below would measure moto's manners instead of AWS's. The
run drives the deployed handler from five containers at once (tests/load/event_source.py);
bench/contention.py is the same at full size.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.lambda_handler import LambdaRuntime, aws_runtime
from tests.load.aws_under_load import AwsUnderLoad, LoadFigures
from tests.load.event_source import (
    SourceResult,
    SourceSettings,
    attendee_address,
    function_environment,
    invite_bodies,
    invite_handler,
    run_event_source,
)
from tests.support import RSVP_EMAIL

HOLD = 1.0  # long enough that the second request surely lands inside the first one's hold

# The run: five containers sending one event of 200 attendees at 30 sends/s. Writes hold their
# items 25 ms (the model's default is 15 ms) so that 200 attendees meet as much contention as a
# full-size event does. The function timeout leaves room for a batch that stops taking records
# 10 s before its deadline; the claim lease outlasts it (no live claim is taken over) and ends
# well before a message's last receive (a crashed claim is taken over, not dead-lettered).
# Ten receives rather than the deployed five: a message dead-letters here only if it keeps
# failing, not because a contended record needed a fifth try.
CONSUMERS = 5
ATTENDEES = 200
QUOTA = 30
RUN_HOLD = 0.025
SOURCE = SourceSettings(consumers=CONSUMERS, function_timeout=15, visibility_timeout=6,
                        max_receives=10, time_limit=100)
CLAIM_LEASE_SECONDS = 16


def _create_table(client: Any) -> str:
    name = f"cis-load-{uuid.uuid4().hex}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
    )
    return name


def _function_base(moto_server: str, aws_region: str, table: str) -> dict[str, str]:
    """Region, table, queue, sender and endpoint; the sender is verified on moto's SES."""
    sender = f"invites-{uuid.uuid4().hex[:12]}@cis-load.example.com"
    boto3.client("sesv2", endpoint_url=moto_server, region_name=aws_region).create_email_identity(
        EmailIdentity=sender)
    queue = boto3.client("sqs", endpoint_url=moto_server, region_name=aws_region).create_queue(
        QueueName=f"cis-load-{uuid.uuid4().hex}")["QueueUrl"]
    return {"REGION": aws_region, "DYNAMODB_TABLE": table, "SENDER": f"Invites <{sender}>",
            "RSVP_EMAIL": RSVP_EMAIL, "SQS_URL": queue, "AWS_ENDPOINT_URL": moto_server}


@pytest.fixture
def base(moto_server: str, aws_region: str, dynamodb_table: str) -> dict[str, str]:
    return _function_base(moto_server, aws_region, dynamodb_table)


def _runtime(base: dict[str, str], model: AwsUnderLoad) -> LambdaRuntime:
    """The deployed runtime and its clients (standard retries, 3 attempts), under the model."""
    runtime: LambdaRuntime = model.attach(aws_runtime(function_environment(
        base, consumers=1, max_send_rate=None, claim_lease_seconds=60)))
    return runtime


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": "event#contention"}, "sk": {"S": name}}


def _add(table: str, name: str) -> dict[str, Any]:
    return {"Update": {"TableName": table, "Key": _key(name), "UpdateExpression": "ADD n :one",
                       "ExpressionAttributeValues": {":one": {"N": "1"}}}}


def _in_background(action: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(action())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until_held(model: AwsUnderLoad, table: str, name: str) -> None:
    deadline = time.monotonic() + 5
    while not model.holding(table, _key(name)):
        assert time.monotonic() < deadline, "the first write never took its hold"
        time.sleep(0.005)


def _not_retried(figures: LoadFigures) -> None:
    assert figures.attempts == figures.calls, (figures.attempts, figures.calls)


# --- (a) conflicts ------------------------------------------------------------------------------


def test_a_transaction_on_an_item_another_holds_is_cancelled_with_a_conflict_and_not_retried(
    base: dict[str, str], dynamodb_table: str,
) -> None:
    model = AwsUnderLoad(latency=0, hold=HOLD)
    client = _runtime(base, model).service.repository.client
    table = dynamodb_table

    first, outcome = _in_background(lambda: client.transact_write_items(
        TransactItems=[_add(table, "statistics"), _add(table, "attendee#ann")]))
    _wait_until_held(model, table, "statistics")
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[_add(table, "attendee#bob"), _add(table, "statistics")])
    with pytest.raises(ClientError) as refused:
        client.update_item(**_add(table, "statistics")["Update"])
    first.join()

    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [reason["Code"] for reason in error["CancellationReasons"]] == [
        "None", "TransactionConflict"]
    assert error["ResponseMetadata"]["RetryAttempts"] == 0
    assert refused.value.response["Error"]["Code"] == "TransactionConflictException"
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert not isinstance(outcome[0], Exception), outcome
    # The cancelled transaction wrote nothing, and once the hold is over the item is free.
    assert "Item" not in client.get_item(TableName=table, Key=_key("attendee#bob"))
    client.transact_write_items(
        TransactItems=[_add(table, "attendee#bob"), _add(table, "statistics")])
    stored = client.get_item(TableName=table, Key=_key("statistics"), ConsistentRead=True)
    assert stored["Item"]["n"] == {"N": "2"}
    figures = model.figures()
    assert figures.transaction_conflicts == 1
    assert figures.write_conflicts == 1
    _not_retried(figures)


def test_two_plain_writes_on_one_item_do_not_conflict(
    base: dict[str, str], dynamodb_table: str,
) -> None:
    model = AwsUnderLoad(latency=0, hold=HOLD)
    client = _runtime(base, model).service.repository.client
    table = dynamodb_table

    first, outcome = _in_background(
        lambda: client.update_item(**_add(table, "statistics")["Update"]))
    _wait_until_held(model, table, "statistics")
    client.update_item(**_add(table, "statistics")["Update"])
    first.join()

    assert not isinstance(outcome[0], Exception), outcome
    assert model.figures().conflicts.total() == 0


# --- (b) the send rate --------------------------------------------------------------------------


def test_a_send_over_the_quota_is_answered_429_and_botocore_retries_it(
    base: dict[str, str],
) -> None:
    now = [0.0]
    model = AwsUnderLoad(latency=0, quota=1, clock=lambda: now[0])
    client = _runtime(base, model).service.mailer.client
    sender = base["SENDER"].split("<")[1].rstrip(">")

    def send(recipient: str) -> Any:
        return client.send_email(FromEmailAddress=sender,
                                 Destination={"ToAddresses": [recipient]},
                                 Content={"Raw": {"Data": b"Subject: hi\r\n\r\nhello\r\n"}})

    send("ann@example.org")
    with pytest.raises(ClientError) as throttled:
        send("bob@example.org")  # the clock stands still: the bucket stays empty
    now[0] += 1.0
    send("bob@example.org")

    error = throttled.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["ResponseMetadata"]["RetryAttempts"] == 2  # 3 attempts in all
    figures = model.figures()
    assert figures.throttled == 3
    assert figures.calls["SendEmail"] == 3
    assert figures.attempts["SendEmail"] == 5
    assert dict(figures.sent_to) == {"ann@example.org": 1, "bob@example.org": 1}


# --- (c) one event, five consumers --------------------------------------------------------------


@dataclass(frozen=True)
class EventRun:
    source: SourceResult
    figures: LoadFigures
    statistics_equal: bool


@pytest.fixture(scope="module")
def event_run(moto_server: str, aws_region: str) -> Iterator[EventRun]:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_server, region_name=aws_region)
    table = _create_table(dynamodb)
    try:
        base = _function_base(moto_server, aws_region, table)
        model = AwsUnderLoad(hold=RUN_HOLD, quota=QUOTA)
        environment = function_environment(base, consumers=CONSUMERS, max_send_rate=QUOTA,
                                           claim_lease_seconds=CLAIM_LEASE_SECONDS)
        event_uid = f"load-{uuid.uuid4().hex[:12]}"
        source = run_event_source(invite_bodies(event_uid, ATTENDEES),
                                  invite_handler(environment, model.attach), SOURCE)
        repository = DynamoDBInviteRepository(table_name=table, client=dynamodb)
        stored = repository.get_statistics(event_uid)
        yield EventRun(source=source, figures=model.figures(),
                       statistics_equal=stored == repository.recount(event_uid))
    finally:
        dynamodb.delete_table(TableName=table)


def test_five_consumers_under_contention_dead_letter_nothing_and_email_every_attendee(
    event_run: EventRun,
) -> None:
    source, figures = event_run.source, event_run.figures

    assert source.dead_lettered == ()
    # The list tolerates ten receives; none needed more than the five the template allows.
    assert source.most_receives <= 5
    not_emailed = [n for n in range(ATTENDEES) if not figures.sent_to[attendee_address(n)]]
    assert not_emailed == []
    assert event_run.statistics_equal


def test_five_consumers_under_contention_email_no_attendee_twice(event_run: EventRun) -> None:
    twice = {address: count for address, count in event_run.figures.sent_to.items()
             if count > 1}
    assert twice == {}
