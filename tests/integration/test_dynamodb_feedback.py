"""Delivery reports and the suppression list in DynamoDB: items, calls, and their errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.stub import Stubber

from cis.adapters import keys
from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.domain import statistics
from cis.domain.delivery import DeliveryStatus
from cis.domain.feedback import decide_feedback, suppression_for
from cis.domain.model import AttendeeKey, ClaimOutcome, HistoryEntry, MarkSent, PartStat
from cis.errors import RepositoryError
from tests.feedback import feedback
from tests.support import FROZEN_NOW, make_claim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UID = "launch-2026"
T0 = FROZEN_NOW


class CallLog:
    """The name and parameters of every DynamoDB call a client makes."""

    def __init__(self, client: DynamoDBClient) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, params: Any, **_: Any) -> None:
        self.calls.append((model.name, json.loads(params["body"])))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def sent(email: str, token: str) -> MarkSent:
    return MarkSent(AttendeeKey.of(UID, email), token, delivery_id="ses-1", at=T0,
                    history=HistoryEntry(PartStat.NEEDS_ACTION, T0, "cis:invite"),
                    counters=statistics.on_sent(PartStat.NEEDS_ACTION, None))


def invited(repository: DynamoDBInviteRepository, email: str) -> None:
    repository.claim(make_claim(email, f"t-{email}", T0))
    repository.settle([sent(email, f"t-{email}")])


def test_a_bounce_is_one_transaction_of_the_report_its_count_and_the_suppression(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    invited(dynamodb_repository, "ann@example.org")
    report = feedback(DeliveryStatus.BOUNCED, permanent=True, detail="Permanent/General")
    change = decide_feedback(dynamodb_repository.get_attendee(UID, "ann@example.org"),
                             report).change
    assert change is not None
    calls = CallLog(dynamodb_client)

    assert dynamodb_repository.apply_feedback(change) is True

    assert calls.names == ["TransactWriteItems"]
    actions = [next(iter(action)) for action in calls.calls[0][1]["TransactItems"]]
    assert actions == ["Update", "Update", "Put"]
    item = dynamodb_client.get_item(
        TableName=dynamodb_table, Key={name: {"S": value} for name, value in
                                       keys.suppression_item_key("ann@example.org").items()},
    )["Item"]
    assert item["pk"]["S"].startswith("suppression#")
    assert (item["reason"]["S"], item["feedback_id"]["S"]) == ("bounce", "fb-1")
    assert "lifted_at" not in item
    attendee = dynamodb_client.get_item(
        TableName=dynamodb_table,
        Key={"pk": {"S": f"event#{UID}"}, "sk": {"S": "attendee#ann@example.org"}})["Item"]
    [entry] = attendee["deliveries"]["L"]
    assert entry["M"]["status"] == {"S": "bounced"}
    assert entry["M"]["diagnostic"] == {"S": "smtp; 550 5.1.1 user unknown"}


def test_a_delay_is_one_conditional_update(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
) -> None:
    invited(dynamodb_repository, "ann@example.org")
    change = decide_feedback(dynamodb_repository.get_attendee(UID, "ann@example.org"),
                             feedback(DeliveryStatus.DELAYED)).change
    assert change is not None
    calls = CallLog(dynamodb_client)

    assert dynamodb_repository.apply_feedback(change) is True
    assert dynamodb_repository.apply_feedback(change) is False

    assert calls.names == ["UpdateItem", "UpdateItem"]


def test_an_unmatched_report_suppresses_with_one_conditional_put(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
) -> None:
    suppression = suppression_for(feedback(DeliveryStatus.COMPLAINED, event_uid=None))
    assert suppression is not None
    calls = CallLog(dynamodb_client)

    assert dynamodb_repository.suppress(suppression) is True
    assert dynamodb_repository.suppress(suppression) is False

    assert calls.names == ["PutItem", "PutItem"]


def test_a_suppressed_claim_costs_its_one_call_and_one_carried_with_settlements_two(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
) -> None:
    suppression = suppression_for(feedback(DeliveryStatus.BOUNCED, permanent=True))
    assert suppression is not None
    dynamodb_repository.suppress(suppression)
    dynamodb_repository.claim(make_claim("bob@example.org", "t-bob", T0))
    calls = CallLog(dynamodb_client)

    assert dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0)) is (
        ClaimOutcome.SUPPRESSED)
    applied, outcome = dynamodb_repository.settle_then_claim(
        [sent("bob@example.org", "t-bob")], make_claim("ann@example.org", "t2", T0))

    assert (list(applied), outcome) == ([True], ClaimOutcome.SUPPRESSED)
    # The claim's transaction, then the one the settlement is sent again in, without it.
    assert calls.names == ["TransactWriteItems"] * 3
    resent = [next(iter(action)) for action in calls.calls[2][1]["TransactItems"]]
    assert resent == ["Update", "Update"]  # Bob's settlement and its counters


def test_the_list_is_read_with_one_query_per_partition(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
) -> None:
    calls = CallLog(dynamodb_client)

    assert dynamodb_repository.suppressions() == []

    assert calls.names == ["Query"] * keys.SUPPRESSION_SHARDS


@pytest.mark.parametrize(("code", "transient"), [("ThrottlingException", True),
                                                  ("ValidationException", False)])
def test_feedback_write_errors_map_like_every_other_call(
    dynamodb_client: DynamoDBClient, code: str, transient: bool,
) -> None:
    repository = DynamoDBInviteRepository(table_name="stubbed", client=dynamodb_client)
    suppression = suppression_for(feedback(DeliveryStatus.COMPLAINED))
    assert suppression is not None
    with Stubber(dynamodb_client) as stubber:
        stubber.add_client_error("put_item", service_error_code=code, http_status_code=400)
        with pytest.raises(RepositoryError) as raised:
            repository.suppress(suppression)

    assert raised.value.transient is transient
