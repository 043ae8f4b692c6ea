"""A DynamoDB recount beside live writers, over HTTP against moto: it loses no count.

A recount reads the counters and the attendee records, then writes; invites settled, replies
applied and versions stored in between must survive it. The writes that land "in between"
are injected at exact points (after the recount's first or second Query), and a writer
thread runs beside repeated recounts.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.dynamodb.recount import RECOUNT_ATTEMPTS
from cis.domain import statistics
from cis.domain.model import AttendeeKey, HistoryEntry, MarkSent, PartStat
from cis.errors import RepositoryError
from tests.support import FROZEN_NOW, make_claim, sample_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

UID = "launch-2026"
T0 = FROZEN_NOW


def own_client(moto_server: str, aws_region: str) -> DynamoDBClient:
    """A client of its own, so a writer's calls are not taken for the recount's."""
    return boto3.client("dynamodb", endpoint_url=moto_server, region_name=aws_region,
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


@pytest.fixture
def writer(dynamodb_table: str, moto_server: str, aws_region: str) -> DynamoDBInviteRepository:
    """A second consumer on the same table."""
    return DynamoDBInviteRepository(table_name=dynamodb_table,
                                    client=own_client(moto_server, aws_region))


def invite(repository: DynamoDBInviteRepository, email: str, *, fence: int | None = None,
           origin: str = "web") -> None:
    """Claim and settle a first invitation, its counters with it, as a consumer does."""
    token = f"t-{email}"
    assert repository.claim(make_claim(email, token, T0, origin=origin)).granted
    settled = repository.settle([MarkSent(
        AttendeeKey.of(UID, email), token, delivery_id=f"ses-{email}", at=T0,
        history=HistoryEntry(status="NEEDS-ACTION", at=T0, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, origin), fence=fence)])
    assert list(settled) == [True]


def drift(repository: DynamoDBInviteRepository) -> None:
    """Counters no record backs, so a recount has something to repair (and writes)."""
    repository.apply_statistics(UID, {"origin:ghost": 4, statistics.INVITES_SENT: 4})


def after_reading(client: DynamoDBClient, what: str, action: Callable[[], None], *,
                  every: bool = False) -> None:
    """Run `action` once a Query of the client returned `what` ("records" or "counters").

    Once, or after each such Query with `every`.
    """
    prefix = {"records": "attendee#", "counters": "statistics"}[what]
    ran: list[int] = []

    def hook(parsed: Any, **_: Any) -> None:
        read = any(item["sk"]["S"].startswith(prefix) for item in parsed.get("Items", []))
        if read and (every or not ran):
            ran.append(1)
            action()

    client.meta.events.register("after-call.dynamodb.Query", hook)


@pytest.mark.parametrize("what", ["counters", "records"])
def test_an_invite_settled_while_the_recount_reads_is_counted(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
    writer: DynamoDBInviteRepository, what: str,
) -> None:
    dynamodb_repository.record_event(sample_event(UID))  # every shard exists, with its fence
    invite(dynamodb_repository, "ann@example.org")
    drift(dynamodb_repository)
    after_reading(dynamodb_client, what, lambda: invite(writer, "bob@example.org"))

    dynamodb_repository.recount(UID)

    stored = dynamodb_repository.get_statistics(UID)
    assert stored.invites_sent == 2
    assert stored.by_origin == {"web": 2}
    assert stored == dynamodb_repository.recount(UID)


def test_a_reply_applied_while_the_recount_reads_is_counted(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
    writer: DynamoDBInviteRepository,
) -> None:
    from cis.domain.model import ReplyChange

    dynamodb_repository.record_event(sample_event(UID))
    invite(dynamodb_repository, "ann@example.org")
    drift(dynamodb_repository)
    accepted = ReplyChange(
        key=AttendeeKey.of(UID, "ann@example.org"), expected_partstat=PartStat.NEEDS_ACTION,
        expected_history_length=1, partstat=PartStat.ACCEPTED, last_reply_at=T0,
        entry=HistoryEntry(status="ACCEPTED", at=T0, source="imip"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, PartStat.ACCEPTED))
    after_reading(dynamodb_client, "records", lambda: writer.apply_reply(accepted))

    dynamodb_repository.recount(UID)

    stored = dynamodb_repository.get_statistics(UID)
    assert stored.rsvp == {"ACCEPTED": 1}
    assert stored == dynamodb_repository.recount(UID)


def test_a_version_stored_while_the_recount_reads_keeps_its_fence(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
    writer: DynamoDBInviteRepository,
) -> None:
    dynamodb_repository.record_event(dataclasses.replace(sample_event(UID), sequence=1))
    invite(dynamodb_repository, "bob@example.org", fence=1)
    drift(dynamodb_repository)
    after_reading(dynamodb_client, "records", lambda: writer.record_event(
        dataclasses.replace(sample_event(UID), sequence=2)))

    dynamodb_repository.recount(UID)

    # A first invitation of version 1, settled after version 2 was stored, is caught.
    assert dynamodb_repository.claim(make_claim("ann@example.org", "t-ann", T0)).granted
    applied = dynamodb_repository.settle([MarkSent(
        AttendeeKey.of(UID, "ann@example.org"), "t-ann", delivery_id="ses-ann", at=T0,
        history=HistoryEntry(status="NEEDS-ACTION", at=T0, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, "web"), fence=1)])
    assert applied.overtaken == {UID: 2}


def test_a_recount_whose_counters_keep_moving_gives_up_and_writes_nothing(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
    writer: DynamoDBInviteRepository,
) -> None:
    invite(dynamodb_repository, "ann@example.org")
    drift(dynamodb_repository)
    guests = iter(f"guest{number}@example.org" for number in range(100))
    # After each attempt has read the records, another invite lands.
    after_reading(dynamodb_client, "records", lambda: invite(writer, next(guests)), every=True)

    with pytest.raises(RepositoryError, match="kept moving") as raised:
        dynamodb_repository.recount(UID)

    assert raised.value.transient
    stored = dynamodb_repository.get_statistics(UID)
    assert stored.invites_sent == 1 + 4 + RECOUNT_ATTEMPTS  # the drift is still there
    assert stored.by_origin["ghost"] == 4


def test_a_recount_with_nothing_to_repair_reads_and_writes_nothing(
    dynamodb_repository: DynamoDBInviteRepository, dynamodb_client: DynamoDBClient,
) -> None:
    invite(dynamodb_repository, "ann@example.org")
    names: list[str] = []
    dynamodb_client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: names.append(model.name))

    rebuilt = dynamodb_repository.recount(UID)

    assert names == ["Query", "Query"]  # the counters, then the records
    assert rebuilt == dynamodb_repository.get_statistics(UID)
    assert rebuilt.invites_sent == 1


def test_no_invite_is_lost_by_recounts_running_beside_a_writer(
    dynamodb_repository: DynamoDBInviteRepository, writer: DynamoDBInviteRepository,
) -> None:
    """Rounds of a burst of invites and a recount at once; after each, every send counts."""
    rounds, burst = 8, 8
    invite(dynamodb_repository, "ann@example.org")
    committed: list[statistics.EventStatistics] = []
    gave_up: list[RepositoryError] = []
    pause = random.Random(7)
    for round_number in range(rounds):
        drift(dynamodb_repository)  # something for this round's recount to repair
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def write(round_number: int = round_number, start: threading.Barrier = start,
                  failures: list[BaseException] = failures) -> None:
            try:
                start.wait()
                for number in range(burst):
                    invite(writer, f"guest{round_number}-{number}@example.org")
                    threading.Event().wait(pause.uniform(0, 0.003))
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        def recount(start: threading.Barrier = start,
                    failures: list[BaseException] = failures) -> None:
            try:
                start.wait()
                committed.append(dynamodb_repository.recount(UID))
            except RepositoryError as exc:
                (gave_up if exc.transient else failures).append(exc)
            except BaseException as exc:  # reported by the test below
                failures.append(exc)

        threads = [threading.Thread(target=write), threading.Thread(target=recount)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not failures, failures

        sent = 1 + (round_number + 1) * burst
        stored = dynamodb_repository.get_statistics(UID)
        assert (stored.invites_sent - 4 * _drift_left(stored), stored.by_origin["web"],
                stored.rsvp) == (sent, sent, {"NEEDS-ACTION": sent}), f"round {round_number}"
    assert committed, f"no recount completed beside the writer ({len(gave_up)} gave up)"

    # Once both are done, the counters equal a recount.
    final = dynamodb_repository.recount(UID)
    assert final == dynamodb_repository.get_statistics(UID)
    total = 1 + rounds * burst
    assert (final.invites_sent, final.by_origin) == (total, {"web": total})


def _drift_left(stored: statistics.EventStatistics) -> int:
    """How many `drift` writes no recount has repaired yet (each adds 4 ghost invites)."""
    return stored.by_origin.get("ghost", 0) // 4
