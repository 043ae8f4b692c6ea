"""The DynamoDB repository over HTTP against moto: item layout, call counts, races, errors.

The behaviour every repository shares is in `tests/contract`; these tests pin what is specific
to DynamoDB: what the items look like, how many API calls each operation makes (one per
reply), and how vendor errors become `RepositoryError`s (the error cases use botocore's
`Stubber`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from cis.adapters import keys
from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    ClaimOutcome,
    HistoryEntry,
    Invitee,
    InviteState,
    MarkSent,
    PartStat,
    Release,
    ReplyChange,
    Role,
    Settlement,
)
from cis.errors import RepositoryError
from tests.support import FROZEN_NOW, make_claim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UID = "launch-2026"
T0 = FROZEN_NOW


def sent(email: str, token: str, *, uid: str = UID, origin: str | None = None) -> MarkSent:
    return MarkSent(
        AttendeeKey.of(uid, email),
        token,
        delivery_id=f"ses-{email}",
        at=T0,
        history=HistoryEntry(status="NEEDS-ACTION", at=T0, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, origin),
    )


def reply(
    email: str,
    *,
    new: PartStat = PartStat.ACCEPTED,
    at: dt.datetime | None = T0 + dt.timedelta(hours=1),
    length: int = 1,
) -> ReplyChange:
    return ReplyChange(
        key=AttendeeKey.of(UID, email),
        expected_partstat=PartStat.NEEDS_ACTION,
        expected_history_length=length,
        partstat=new,
        last_reply_at=at,
        entry=HistoryEntry(status=str(new), at=at or T0, source="imip"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, new),
    )


def raw_item(client: DynamoDBClient, table: str, pk: str, sk: str) -> dict[str, Any]:
    response = client.get_item(
        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return dict(response["Item"])


def statistics_items(client: DynamoDBClient, table: str, uid: str = UID) -> dict[str, Any]:
    """Every statistics item of the event, by sort key."""
    response = client.query(
        TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :s)",
        ExpressionAttributeValues={":pk": {"S": f"event#{uid}"}, ":s": {"S": "statistics"}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: item for item in response["Items"]}


def shard_key(address: str) -> str:
    return f"statistics#{keys.statistics_shard(address):02d}"


class CallLog:
    """Records the name and parameters of every DynamoDB call a client makes."""

    def __init__(self, client: DynamoDBClient) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, params: Any, **_: Any) -> None:
        self.calls.append((model.name, json.loads(params["body"])))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def calls(dynamodb_client: DynamoDBClient) -> CallLog:
    return CallLog(dynamodb_client)


# --- item layout -----------------------------------------------------------------------------


def test_claimed_attendee_item_has_the_documented_layout(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    berlin_now = T0.astimezone(ZoneInfo("Europe/Berlin"))
    dynamodb_repository.claim(make_claim("Ann@Example.org", "t1", berlin_now, name="Ann"))

    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )

    assert item == {
        "pk": {"S": "event#launch-2026"},
        "sk": {"S": "attendee#ann@example.org"},
        "email": {"S": "Ann@Example.org"},
        "name": {"S": "Ann"},
        "status": {"S": "NEEDS-ACTION"},
        "state": {"S": "claimed"},
        "claim_token": {"S": "t1"},
        "lease_expires_at": {"S": "2026-11-28T09:45:00+00:00"},
        "lease_expires_epoch": {"N": str(int((T0 + dt.timedelta(minutes=15)).timestamp()))},
        "claim_sequence": {"N": "0"},
        "history": {"L": []},
    }


def test_sent_attendee_item_holds_history_as_a_list_of_maps_and_no_claim(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0, origin="web"))
    dynamodb_repository.settle([sent("ann@example.org", "t1", origin="web")])

    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )

    assert item["state"] == {"S": "sent"}
    assert (item["sequence"], item["standing"]) == ({"N": "0"}, {"S": "invited"})
    assert item["origin"] == {"S": "web"}
    assert item["message_id"] == {"S": "ses-ann@example.org"}
    assert item["sent_at"] == {"S": "2026-11-28T09:30:00+00:00"}
    assert item["history"] == {
        "L": [
            {
                "M": {
                    "status": {"S": "NEEDS-ACTION"},
                    "at": {"S": "2026-11-28T09:30:00+00:00"},
                    "source": {"S": "cis:invite"},
                }
            }
        ]
    }
    assert not {"claim_token", "lease_expires_at", "lease_expires_epoch", "name"} & item.keys()


def test_a_role_is_an_attribute_only_when_it_is_not_the_default(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    chair = replace(make_claim("ann@example.org", "t1", T0), invitee=Invitee(
        "ann@example.org", role=Role.CHAIR))
    dynamodb_repository.claim(chair)
    dynamodb_repository.claim(make_claim("bob@example.org", "t2", T0))

    ann = raw_item(dynamodb_client, dynamodb_table, "event#launch-2026",
                   "attendee#ann@example.org")
    bob = raw_item(dynamodb_client, dynamodb_table, "event#launch-2026",
                   "attendee#bob@example.org")
    assert ann["role"] == {"S": "CHAIR"}
    assert "role" not in bob  # an item written before roles were stored reads the same
    assert dynamodb_repository.get_attendee(UID, "ann@example.org").role is Role.CHAIR
    assert dynamodb_repository.get_attendee(UID, "bob@example.org").role is (
        Role.REQ_PARTICIPANT)


def test_statistics_items_hold_one_number_per_flat_counter_and_are_summed_on_read(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    for _ in range(20):
        dynamodb_repository.apply_statistics(UID, statistics.on_sent(PartStat.ACCEPTED, "web"))
    dynamodb_repository.apply_statistics(UID, statistics.on_rejected())

    items = statistics_items(dynamodb_client, dynamodb_table)

    # Spread over the shards (20 writes to one of 16 at random land on one item 16^-19 times).
    assert len(items) > 1
    assert all(sort_key.startswith("statistics#") for sort_key in items)
    for item in items.values():
        numbers = {name for name, value in item.items() if "N" in value}
        assert numbers <= {"invites_sent", "rsvp:ACCEPTED", "origin:web", "role:REQ-PARTICIPANT",
                           "requests_rejected", "counter_writes"}
        assert set(item) - numbers == {"pk", "sk"}
    # Each write of counters a recount rebuilds is counted on its item; the rejection is not.
    assert sum(int(item.get("counter_writes", {"N": "0"})["N"]) for item in items.values()) == 20
    total = dynamodb_repository.get_statistics(UID)
    assert (total.invites_sent, total.rsvp, total.by_origin, total.requests_rejected) == (
        20, {"ACCEPTED": 20}, {"web": 20}, 1)
    assert total.by_role == {"REQ-PARTICIPANT": 20}


def test_an_event_counted_before_its_counters_were_sharded_reads_the_sum_of_both(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    dynamodb_client.put_item(TableName=dynamodb_table, Item={
        "pk": {"S": "event#launch-2026"}, "sk": {"S": "statistics"},
        "invites_sent": {"N": "5"}, "duplicates_skipped": {"N": "2"},
    })
    dynamodb_repository.apply_statistics(UID, {"invites_sent": 1})
    stats = dynamodb_repository.get_statistics(UID)
    assert (stats.invites_sent, stats.duplicates_skipped) == (6, 2)


def test_lease_ending_exactly_now_is_taken_over_and_a_microsecond_earlier_is_not(
    dynamodb_repository: DynamoDBInviteRepository,
) -> None:
    start = T0 + dt.timedelta(milliseconds=500)  # whole seconds would hide a truncated epoch
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", start))
    expiry = start + dt.timedelta(minutes=15)

    just_before = make_claim("ann@example.org", "t2", expiry - dt.timedelta(microseconds=1))
    at_expiry = make_claim("ann@example.org", "t3", expiry)

    assert dynamodb_repository.claim(just_before) is ClaimOutcome.IN_PROGRESS
    # A transaction returns no old item, so a take-over reads as CLAIMED: granted either way.
    assert dynamodb_repository.claim(at_expiry).granted
    assert dynamodb_repository.get_attendee(UID, "ann@example.org").claim_token == "t3"


def test_claim_over_an_earlier_attempt_keeps_its_history_and_drops_its_leftovers(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    earlier = {
        "M": {
            "status": {"S": "TENTATIVE"},
            "at": {"S": "2026-11-01T08:00:00+00:00"},
            "source": {"S": "rsvp"},
        }
    }
    dynamodb_client.put_item(
        TableName=dynamodb_table,
        Item={
            "pk": {"S": "event#launch-2026"},
            "sk": {"S": "attendee#ann@example.org"},
            "email": {"S": "ann@example.org"},
            "name": {"S": "Old Name"},
            "status": {"S": "TENTATIVE"},
            "state": {"S": "released"},
            "message_id": {"S": "ses-old"},
            "failure_reason": {"S": "old reason"},
            "sent_at": {"S": "2026-11-01T08:00:00+00:00"},
            "history": {"L": [earlier]},
        },
    )

    outcome = dynamodb_repository.claim(make_claim("ann@example.org", "t2", T0))

    assert outcome is ClaimOutcome.CLAIMED
    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )
    assert item["history"] == {"L": [earlier]}
    assert item["status"] == {"S": "NEEDS-ACTION"}
    assert not {"name", "message_id", "failure_reason", "sent_at"} & item.keys()
    record = dynamodb_repository.get_attendee(UID, "ann@example.org")
    assert record is not None
    assert record.history == (
        HistoryEntry(
            status="TENTATIVE", at=dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC), source="rsvp"
        ),
    )


# --- API calls per operation -----------------------------------------------------------------


def test_claim_is_one_transaction_of_its_conditional_update_and_its_address_check(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))

    assert calls.names == ["TransactWriteItems"]
    update, check = calls.calls[0][1]["TransactItems"]
    assert "ConditionExpression" in update["Update"]
    assert check["ConditionCheck"]["Key"] == {
        name: {"S": value} for name, value in keys.suppression_item_key("ann@example.org").items()}


def test_refused_claim_is_classified_without_a_second_call(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    calls.clear()

    outcome = dynamodb_repository.claim(make_claim("ann@example.org", "t2", T0))

    assert outcome is ClaimOutcome.ALREADY_SENT
    assert calls.names == ["TransactWriteItems"]


def test_settling_ten_sent_invites_of_one_event_is_one_call(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    for number in range(10):
        dynamodb_repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0))
    calls.clear()

    applied = dynamodb_repository.settle(
        [sent(f"a{n}@example.org", f"t{n}", origin="web") for n in range(10)]
    )

    assert applied == [True] * 10
    assert calls.names == ["TransactWriteItems"]
    assert len(calls.calls[0][1]["TransactItems"]) == 11  # ten attendees, one statistics ADD
    stats = dynamodb_repository.get_statistics(UID)
    assert (stats.invites_sent, stats.by_origin) == (10, {"web": 10})


def test_settling_more_than_a_transaction_holds_splits_into_chunks_of_at_most_100_actions(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    events = ("first", "second")
    for number in range(110):
        uid = events[number % 2]
        dynamodb_repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0, uid=uid))
    calls.clear()

    applied = dynamodb_repository.settle(
        [sent(f"a{n}@example.org", f"t{n}", uid=events[n % 2]) for n in range(110)]
    )

    assert applied == [True] * 110
    sizes = [len(body["TransactItems"]) for _, body in calls.calls]
    assert calls.names == ["TransactWriteItems", "TransactWriteItems"]
    assert sizes[0] == 100  # 98 attendees and one statistics update per event
    assert sum(sizes) == 110 + 2 * len(events)
    assert [dynamodb_repository.get_statistics(uid).invites_sent for uid in events] == [55, 55]


def test_settle_then_claim_is_one_transaction_of_settlements_claim_and_counters(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    calls.clear()

    applied, outcome = dynamodb_repository.settle_then_claim(
        [sent("ann@example.org", "t1")], make_claim("bob@example.org", "t2", T0)
    )

    assert (applied, outcome) == ([True], ClaimOutcome.CLAIMED)
    assert calls.names == ["TransactWriteItems"]
    actions = calls.calls[0][1]["TransactItems"]
    written = [(kind, body["Key"]["sk"]["S"]) for action in actions
               for kind, body in action.items()]
    assert written == [
        ("Update", "attendee#ann@example.org"), ("Update", "attendee#bob@example.org"),
        ("ConditionCheck", keys.suppression_item_key("bob@example.org")["sk"]),
        ("Update", shard_key("ann@example.org"))]


def test_settle_then_claim_refused_resends_the_settlements_without_the_claim(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    dynamodb_repository.claim(make_claim("bob@example.org", "t2", T0))
    calls.clear()

    applied, outcome = dynamodb_repository.settle_then_claim(
        [sent("bob@example.org", "t2")], make_claim("ann@example.org", "t3", T0)
    )

    assert (applied, outcome) == ([True], ClaimOutcome.ALREADY_SENT)
    assert calls.names == ["TransactWriteItems", "TransactWriteItems"]
    actions = calls.calls[1][1]["TransactItems"]
    sort_keys = [action["Update"]["Key"]["sk"]["S"] for action in actions]
    assert sort_keys == ["attendee#bob@example.org", shard_key("bob@example.org")]


def test_settle_then_claim_whose_settlements_are_all_lost_claims_with_its_own_update(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    calls.clear()

    applied, outcome = dynamodb_repository.settle_then_claim(
        [sent("ann@example.org", "stale")], make_claim("bob@example.org", "t2", T0)
    )

    assert (applied, outcome) == ([False], ClaimOutcome.CLAIMED)
    assert calls.names == ["TransactWriteItems", "TransactWriteItems"]
    assert dynamodb_repository.get_statistics(UID).invites_sent == 0


def test_two_settlements_of_one_attendee_in_a_batch_are_decided_in_order(
    dynamodb_repository: DynamoDBInviteRepository,
) -> None:
    # A transaction may not touch one item twice; the second goes into the next transaction.
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    key = AttendeeKey.of(UID, "ann@example.org")

    applied = dynamodb_repository.settle([Release(key, "t1"), sent("ann@example.org", "t1")])

    assert applied == [True, False]
    record = dynamodb_repository.get_attendee(UID, "ann@example.org")
    assert record is not None
    assert record.state is InviteState.RELEASED


def test_apply_statistics_is_one_call_and_nothing_to_add_makes_none(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.apply_statistics(UID, {})
    assert calls.names == []

    dynamodb_repository.apply_statistics(UID, statistics.on_duplicate())
    assert calls.names == ["UpdateItem"]


def test_recount_adds_the_difference_to_its_own_item_and_writes_no_shard(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
    calls: CallLog,
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    dynamodb_repository.apply_statistics(UID, {"origin:ghost": 4, statistics.DUPLICATES_SKIPPED: 2})
    shards = statistics_items(dynamodb_client, dynamodb_table)
    calls.clear()

    rebuilt = dynamodb_repository.recount(UID)

    # The counters, then the records, then one transaction: the difference on the recount's
    # item, on condition that it and each of the 16 shards took no counting write meanwhile.
    assert calls.names == ["Query", "Query", "TransactWriteItems"]
    actions = calls.calls[2][1]["TransactItems"]
    assert [next(iter(action)) for action in actions] == ["Update"] + ["ConditionCheck"] * 16
    assert actions[0]["Update"]["Key"]["sk"] == {"S": "statistics"}
    assert "ConditionExpression" in actions[0]["Update"]
    items = statistics_items(dynamodb_client, dynamodb_table)
    assert {sk: item for sk, item in items.items() if sk != "statistics"} == shards
    assert items["statistics"]["origin:ghost"] == {"N": "-4"}
    assert "duplicates_skipped" not in items["statistics"]  # kept where it was
    assert rebuilt.by_origin == {"unspecified": 1}
    assert rebuilt.duplicates_skipped == 2
    assert dynamodb_repository.get_statistics(UID) == rebuilt
    calls.clear()
    assert dynamodb_repository.recount(UID) == rebuilt
    assert calls.names == ["Query", "Query"]  # nothing left to repair: nothing written


def test_reply_with_counters_is_one_transaction_of_attendee_update_and_statistics_add(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
    calls: CallLog,
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    calls.clear()
    berlin = (T0 + dt.timedelta(hours=1)).astimezone(ZoneInfo("Europe/Berlin"))

    assert dynamodb_repository.apply_reply(reply("ann@example.org", at=berlin)) is True

    assert calls.names == ["TransactWriteItems"]
    attendee_update, statistics_update = (
        action["Update"] for action in calls.calls[0][1]["TransactItems"]
    )
    # An attendee answers once sent something (sent before versions were stored: `sent`).
    assert attendee_update["ConditionExpression"] == (
        "(attribute_exists(#sequence) OR #state = :sent)"
        " AND #status = :expected AND size(#history) = :length"
        " AND (attribute_not_exists(#replies_dropped) OR #replies_dropped = :dropped)"
    )
    assert statistics_update["UpdateExpression"].startswith("ADD ")
    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )
    assert item["status"] == {"S": "ACCEPTED"}
    assert item["last_reply_at"] == {"S": "2026-11-28T10:30:00+00:00"}
    assert item["history"]["L"][1] == {
        "M": {
            "status": {"S": "ACCEPTED"},
            "at": {"S": "2026-11-28T10:30:00+00:00"},
            "source": {"S": "imip"},
        }
    }
    assert len(item["history"]["L"]) == 2
    # The reply's counters go to the attendee's shard, where the invitation counted it.
    stats = statistics_items(dynamodb_client, dynamodb_table)[shard_key("ann@example.org")]
    assert (stats["rsvp:NEEDS-ACTION"], stats["rsvp:ACCEPTED"]) == ({"N": "0"}, {"N": "1"})


def test_reply_without_counters_is_one_conditional_update_that_removes_last_reply_at(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
    calls: CallLog,
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    dynamodb_client.update_item(  # as if an earlier reply had been recorded
        TableName=dynamodb_table,
        Key={"pk": {"S": "event#launch-2026"}, "sk": {"S": "attendee#ann@example.org"}},
        UpdateExpression="SET last_reply_at = :at",
        ExpressionAttributeValues={":at": {"S": "2026-11-28T09:45:00+00:00"}},
    )
    calls.clear()
    unchanged = reply("ann@example.org", new=PartStat.NEEDS_ACTION, at=None)
    assert unchanged.counters == {}

    assert dynamodb_repository.apply_reply(unchanged) is True
    stale = dynamodb_repository.apply_reply(unchanged)

    assert calls.names == ["UpdateItem", "UpdateItem"]
    assert "ConditionExpression" in calls.calls[0][1]
    assert stale is False
    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )
    assert "last_reply_at" not in item
    assert len(item["history"]["L"]) == 2


def test_refused_reply_with_counters_leaves_the_statistics_alone(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "t1", T0))
    dynamodb_repository.settle([sent("ann@example.org", "t1")])
    calls.clear()

    assert dynamodb_repository.apply_reply(reply("ann@example.org", length=0)) is False

    assert calls.names == ["TransactWriteItems"]
    assert dynamodb_repository.get_statistics(UID).rsvp == {"NEEDS-ACTION": 1}


# --- ownership and races ---------------------------------------------------------------------


def test_slow_consumer_whose_lease_was_taken_over_cannot_mark_sent(
    dynamodb_repository: DynamoDBInviteRepository,
    dynamodb_client: DynamoDBClient,
    dynamodb_table: str,
) -> None:
    dynamodb_repository.claim(make_claim("ann@example.org", "slow", T0))
    later = T0 + dt.timedelta(minutes=16)
    assert dynamodb_repository.claim(make_claim("ann@example.org", "fast", later)).granted

    assert dynamodb_repository.settle([sent("ann@example.org", "slow")]) == [False]

    item = raw_item(
        dynamodb_client, dynamodb_table, "event#launch-2026", "attendee#ann@example.org"
    )
    assert item["state"] == {"S": "claimed"}
    assert item["claim_token"] == {"S": "fast"}
    assert "message_id" not in item
    assert dynamodb_repository.get_statistics(UID).invites_sent == 0


def test_two_threads_racing_twenty_times_for_one_attendee_win_exactly_once_each_round(
    dynamodb_table: str, moto_server: str, aws_region: str
) -> None:
    # Each thread has its own client, as two Lambda instances would.
    repositories = [
        DynamoDBInviteRepository(
            table_name=dynamodb_table, region=aws_region, endpoint_url=moto_server
        )
        for _ in range(2)
    ]
    rounds = 20
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[list[ClaimOutcome]] = [[], []]

    def race(thread: int) -> None:
        for round_ in range(rounds):
            barrier.wait()
            claim = make_claim(f"race-{round_}@example.org", f"thread{thread}", T0)
            outcomes[thread].append(repositories[thread].claim(claim))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    granted_per_round = [
        [outcomes[0][r].granted, outcomes[1][r].granted].count(True) for r in range(rounds)
    ]
    assert granted_per_round == [1] * rounds
    for round_ in range(rounds):
        winner = 0 if outcomes[0][round_].granted else 1
        record = repositories[0].get_attendee(UID, f"race-{round_}@example.org")
        assert record is not None
        assert record.claim_token == f"thread{winner}"
    losers = [o for pair in zip(*outcomes, strict=True) for o in pair if not o.granted]
    assert set(losers) == {ClaimOutcome.IN_PROGRESS}


# --- error mapping ---------------------------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDBInviteRepository, Stubber]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield DynamoDBInviteRepository(table_name="stubbed", client=client), stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
    ],
)
def test_throttling_and_server_errors_on_claim_are_transient(
    stubbed: tuple[DynamoDBInviteRepository, Stubber], code: str
) -> None:
    repository, stubber = stubbed
    status = 500 if code == "InternalServerError" else 400
    stubber.add_client_error("transact_write_items", service_error_code=code,
                             http_status_code=status)

    with pytest.raises(RepositoryError) as raised:
        repository.claim(make_claim("ann@example.org", "t1", T0))

    assert raised.value.transient is True
    assert code in str(raised.value)


def test_unknown_5xx_error_is_transient(stubbed: tuple[DynamoDBInviteRepository, Stubber]) -> None:
    repository, stubber = stubbed
    stubber.add_client_error("query", service_error_code="Surprise", http_status_code=503)

    with pytest.raises(RepositoryError) as raised:
        repository.get_statistics(UID)

    assert raised.value.transient is True


@pytest.mark.parametrize(
    "code", ["ValidationException", "ResourceNotFoundException", "AccessDeniedException"]
)
def test_bad_requests_are_permanent(
    stubbed: tuple[DynamoDBInviteRepository, Stubber], code: str
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error("transact_write_items", service_error_code=code,
                             http_status_code=400)

    with pytest.raises(RepositoryError) as raised:
        repository.claim(make_claim("ann@example.org", "t1", T0))

    assert raised.value.transient is False
    assert raised.value.__cause__ is not None


def test_missing_table_on_moto_is_a_permanent_error(
    dynamodb_client: DynamoDBClient,
) -> None:
    repository = DynamoDBInviteRepository(table_name="no-such-table", client=dynamodb_client)

    with pytest.raises(RepositoryError) as raised:
        repository.get_attendee(UID, "ann@example.org")

    assert raised.value.transient is False
    assert "ResourceNotFoundException" in str(raised.value)


def test_unreachable_endpoint_is_transient() -> None:
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    repository = DynamoDBInviteRepository(table_name="any", client=client)

    with pytest.raises(RepositoryError) as raised:
        repository.get_statistics(UID)

    assert raised.value.transient is True


def test_refused_claim_without_the_old_item_is_a_permanent_error(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items", service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"},
                                                {"Code": "None"}]})

    with pytest.raises(RepositoryError) as raised:
        repository.claim(make_claim("ann@example.org", "t1", T0))

    assert raised.value.transient is False


def test_transaction_conflict_in_settle_is_transient(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )
    stubber.add_client_error(
        "transact_write_items", service_error_code="TransactionConflictException"
    )

    for _ in range(2):
        with pytest.raises(RepositoryError) as raised:
            repository.settle([sent("ann@example.org", "t1")])
        assert raised.value.transient is True


def test_a_transaction_conflict_is_marked_a_conflict_and_throttling_is_not(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )
    stubber.add_client_error(
        "transact_write_items", service_error_code="TransactionConflictException"
    )
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}]},
    )
    stubber.add_client_error("transact_write_items", service_error_code="ThrottlingException")

    conflicts = []
    for _ in range(4):
        with pytest.raises(RepositoryError) as raised:
            repository.settle([sent("ann@example.org", "t1")])
        assert raised.value.transient is True
        conflicts.append(raised.value.conflict)
    assert conflicts == [True, True, False, False]


def test_cancelled_transaction_marks_the_lost_claim_and_applies_the_rest_on_retry(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    settlements: list[Settlement] = [sent(f"a{n}@example.org", f"t{n}") for n in range(3)]
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={
            "CancellationReasons": [
                {"Code": "None"},
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                {"Code": "None"},
                {"Code": "None"},
            ]
        },
    )
    stubber.add_response("transact_write_items", {})
    retried: list[dict[str, Any]] = []
    # before-parameter-build, not before-call: the Stubber answers at before-call and stops it.
    stubber.client.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems",
        lambda params, **_: retried.append(params),
    )

    applied = repository.settle(settlements)

    assert applied == [True, False, True]
    assert len(retried) == 2
    keys = [action["Update"]["Key"]["sk"]["S"] for action in retried[1]["TransactItems"][:2]]
    assert keys == ["attendee#a0@example.org", "attendee#a2@example.org"]
    statistics_update = retried[1]["TransactItems"][2]["Update"]
    assert statistics_update["ExpressionAttributeValues"][":c0"] == {"N": "2"}


def test_reply_transaction_cancelled_by_its_condition_is_not_applied(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={
            "CancellationReasons": [
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                {"Code": "None"},
            ]
        },
    )

    assert repository.apply_reply(reply("ann@example.org")) is False


def test_reply_transaction_cancelled_by_a_conflict_is_transient(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}]},
    )

    with pytest.raises(RepositoryError) as raised:
        repository.apply_reply(reply("ann@example.org"))

    assert raised.value.transient is True
    assert "TransactionConflict" in str(raised.value)
    assert raised.value.__cause__ is not None


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [("ThrottlingException", 400, True), ("ValidationException", 400, False)],
)
def test_reply_update_errors_map_like_every_other_call(
    stubbed: tuple[DynamoDBInviteRepository, Stubber], code: str, status: int, transient: bool
) -> None:
    repository, stubber = stubbed
    stubber.add_client_error("update_item", service_error_code="ConditionalCheckFailedException")
    stubber.add_client_error("update_item", service_error_code=code, http_status_code=status)
    without_counters = reply("ann@example.org", new=PartStat.NEEDS_ACTION, at=None)

    assert repository.apply_reply(without_counters) is False
    with pytest.raises(RepositoryError) as raised:
        repository.apply_reply(without_counters)

    assert raised.value.transient is transient


def test_cancelled_transaction_with_lost_claims_on_real_moto_applies_the_others(
    dynamodb_repository: DynamoDBInviteRepository, calls: CallLog
) -> None:
    for number in range(4):
        dynamodb_repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0))
    calls.clear()
    settlements: list[Settlement] = [sent(f"a{n}@example.org", f"t{n}") for n in range(4)]
    settlements[1] = sent("a1@example.org", "stale")
    settlements[2] = sent("a2@example.org", "stale")

    applied = dynamodb_repository.settle(settlements)

    assert applied == [True, False, False, True]
    assert calls.names == ["TransactWriteItems", "TransactWriteItems"]
    assert dynamodb_repository.get_statistics(UID).invites_sent == 2


def test_recount_follows_query_pages(
    stubbed: tuple[DynamoDBInviteRepository, Stubber],
) -> None:
    repository, stubber = stubbed

    def attendee(email: str) -> dict[str, Any]:
        return {
            "pk": {"S": f"event#{UID}"},
            "sk": {"S": f"attendee#{email}"},
            "email": {"S": email},
            "status": {"S": "ACCEPTED"},
            "state": {"S": "sent"},
        }

    page_end = {"pk": {"S": f"event#{UID}"}, "sk": {"S": "attendee#a@example.org"}}
    stubber.add_response("query", {"Items": []})  # the counters: none yet
    stubber.add_response(
        "query", {"Items": [attendee("a@example.org")], "LastEvaluatedKey": page_end}
    )
    stubber.add_response(
        "query",
        {"Items": [attendee("b@example.org")]},
        expected_params={
            "TableName": "stubbed",
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": {"S": f"event#{UID}"},
                                          ":prefix": {"S": "attendee#"}},
            "ConsistentRead": True,
            "ExclusiveStartKey": page_end,
        },
    )
    stubber.add_response("transact_write_items", {})

    rebuilt = repository.recount(UID)

    assert rebuilt.invites_sent == 2
    assert rebuilt.rsvp == {"ACCEPTED": 2}


def test_repository_builds_its_own_client_from_region_and_endpoint(
    dynamodb_table: str, moto_server: str, aws_region: str
) -> None:
    repository = DynamoDBInviteRepository(
        table_name=dynamodb_table, region=aws_region, endpoint_url=moto_server
    )

    assert repository.claim(make_claim("ann@example.org", "t1", T0)) is ClaimOutcome.CLAIMED
    assert repository.get_attendee(UID, "ANN@example.org") is not None
