"""The producer: one message per invitee, bodies the consumer reads back, stable dedup ids."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from cis.adapters.memory import InMemoryInviteQueue
from cis.domain.model import Invitee, InviteRequest, PartStat
from cis.messages.invite_format import parse_body
from cis.services.producer import deduplication_id, enqueue_invites, group_id, invite_messages
from tests.support import sample_event

EVENT = sample_event(description="Agenda", location="Room 4")


def invitees(count: int) -> list[Invitee]:
    return [Invitee(f"guest{n}@example.org", name=f"Guest {n}") for n in range(count)]


def test_each_body_parses_back_to_the_same_request() -> None:
    guests = [
        Invitee("ann@example.org", name="Ann Lee", partstat=PartStat.ACCEPTED, origin="web"),
        Invitee("bob@example.org"),
    ]
    bodies = [message.body for message in invite_messages(EVENT, guests)]
    assert [parse_body(b) for b in bodies] == [InviteRequest(EVENT, g) for g in guests]


def test_event_in_a_named_time_zone_parses_back_equal() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    event = sample_event(timezone="Europe/Berlin",
                         start=dt.datetime(2026, 12, 1, 10, 0, tzinfo=berlin),
                         end=dt.datetime(2026, 12, 1, 11, 30, tzinfo=berlin))
    [message] = invite_messages(event, [Invitee("ann@example.org")])
    assert parse_body(message.body) == InviteRequest(event, Invitee("ann@example.org"))


def test_event_in_a_named_time_zone_given_in_utc_keeps_its_instant() -> None:
    event = sample_event(timezone="Europe/Berlin")  # times in UTC, zone Berlin
    [message] = invite_messages(event, [Invitee("ann@example.org")])
    assert parse_body(message.body).event.start == event.start


def test_deduplication_id_is_the_same_for_any_case_of_the_address() -> None:
    [upper, lower] = invite_messages(EVENT, [Invitee("Ann@X.org"), Invitee("ann@x.org")])
    assert upper.deduplication_id == lower.deduplication_id


def test_deduplication_id_is_sha256_of_uid_and_normalised_address() -> None:
    expected = hashlib.sha256(b"launch-2026\nann@x.org").hexdigest()
    assert deduplication_id("launch-2026", " Ann@X.org ") == expected


def test_deduplication_id_differs_between_events() -> None:
    assert deduplication_id("a", "ann@x.org") != deduplication_id("b", "ann@x.org")


def test_group_id_is_the_event_uid() -> None:
    [message] = invite_messages(EVENT, [Invitee("ann@x.org")])
    assert message.group_id == EVENT.uid


def test_group_id_of_a_uid_longer_than_sqs_allows_is_its_hash() -> None:
    uid = "u" * 200
    assert group_id(uid) == hashlib.sha256(uid.encode()).hexdigest()


def test_twenty_five_invitees_make_twenty_five_messages_in_three_batches() -> None:
    batches: list[int] = []

    class CountingQueue(InMemoryInviteQueue):
        def enqueue(self, messages: object) -> None:  # type: ignore[override]
            batches.append(len(messages))  # type: ignore[arg-type]
            super().enqueue(messages)  # type: ignore[arg-type]

    queue = CountingQueue()
    assert enqueue_invites(queue, EVENT, invitees(25)) == 25
    assert len(queue.enqueued) == 25
    assert batches == [10, 10, 5]
    assert [parse_body(m.body).invitee.email for m in queue.enqueued] == [
        g.email for g in invitees(25)
    ]


def test_invitees_are_read_lazily_one_batch_at_a_time() -> None:
    pulled: list[int] = []
    queue = InMemoryInviteQueue()

    def stream() -> Iterator[Invitee]:
        for n in range(25):
            pulled.append(n)
            # Never more than one batch ahead of what is on the queue.
            assert n < len(queue.enqueued) + 10
            yield Invitee(f"guest{n}@example.org")

    assert enqueue_invites(queue, EVENT, stream()) == 25
    assert len(pulled) == 25


def test_no_invitees_enqueue_nothing() -> None:
    queue = InMemoryInviteQueue()
    assert enqueue_invites(queue, EVENT, []) == 0
    assert queue.enqueued == []


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        enqueue_invites(InMemoryInviteQueue(), EVENT, invitees(1), batch_size=0)
