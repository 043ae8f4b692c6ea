"""Fan-outs and resends through the invite flow, on the in-memory adapters.

A fan-out brings every attendee already sent something to one version: onto the relay queue
when the service has one, sent in place otherwise; it resumes where it stopped. A resend
sends the stored version again, once per request however often the request is delivered.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.model import (
    Event,
    EventStatus,
    FanOut,
    InviteAction,
    Invitee,
    InviteRequest,
    PartStat,
    Resend,
    Standing,
)
from cis.messages.invite_format import encode_message, parse_message
from cis.ports.queue import QueueRecord
from cis.services import fan_out as fan_out_module
from cis.services.invites import InviteService, Outcome
from cis.services.producer import outgoing_message
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"
SERVICES = itertools.count(1)


def service(repository: Any = None, mailer: Any = None, relay: Any = None) -> InviteService:
    return build_service(repository=repository or InMemoryInviteRepository(),
                         mailer=mailer or InMemoryMailer(), sender=SENDER,
                         rsvp_email=RSVP_EMAIL, clock=Clock(), relay=relay,
                         new_id=counter_ids(f"f{next(SERVICES)}"), sleep=lambda _: None)


def invitees(count: int) -> list[Invitee]:
    return [Invitee(f"guest{n:04d}@example.org", name=f"Guest {n}") for n in range(count)]


def invite(svc: InviteService, event: Event, people: list[Invitee]) -> None:
    report = svc.send_invites(InviteRequest(event, person) for person in people)
    assert {result.outcome for result in report.results} == {Outcome.SENT}


def records(bodies: list[str], prefix: str = "m") -> list[QueueRecord]:
    return [QueueRecord(message_id=f"{prefix}-{n}", body=body, receipt=f"r-{prefix}-{n}")
            for n, body in enumerate(bodies)]


def outcomes(report: Any) -> list[Outcome]:
    return [result.outcome for result in report.results]


def test_a_fan_out_without_a_queue_sends_each_attendee_the_version_once() -> None:
    mailer = InMemoryMailer()
    svc, event = service(mailer=mailer), sample_event(UID)
    people = invitees(250)
    invite(svc, event, people)
    removed = people[7]
    svc.send_invites([InviteRequest(replace(event, sequence=1), removed, InviteAction.REMOVE)])

    update = replace(event, sequence=2, location="Room 5")
    report = svc.fan_out(update)

    *sent, own = report.results
    assert own.outcome is Outcome.EXPANDED and "249 attendee messages" in (own.reason or "")
    assert [result.outcome for result in sent] == [Outcome.SENT] * 249
    assert all(len(mailer.sent_to(person.email)) == 2 for person in people if person != removed)
    assert len(mailer.sent_to(removed.email)) == 2  # the invitation, then the removal
    assert svc.repository.get_attendee(UID, removed.email).standing is Standing.REMOVED
    stats = svc.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.updates_sent, stats.attendees_removed) == (250, 249, 1)
    assert svc.repository.recount(UID) == stats

    # Running it again sends nothing: the version's fan-out is done.
    again = svc.fan_out(update)
    assert outcomes(again) == [Outcome.DUPLICATE]
    assert len(mailer.sent) == 250 + 249 + 1


def test_a_fan_out_body_puts_one_message_per_attendee_on_the_relay_queue() -> None:
    relay = InMemoryInviteQueue()
    svc, event = service(relay=relay), sample_event(UID)
    people = invitees(23)
    invite(svc, event, people)
    cancelled = replace(event, sequence=1, status=EventStatus.CANCELLED)

    report = svc.process_batch(records([encode_message(FanOut(cancelled))]))

    assert outcomes(report) == [Outcome.EXPANDED]
    assert report.acknowledged_receipts == ["r-m-0"]
    expected = [outgoing_message(InviteRequest(cancelled, person)) for person in people]
    assert relay.enqueued == expected
    # The messages are one attendee's bodies at the new version; consuming them cancels.
    consumed = svc.process_batch(records([m.body for m in relay.enqueued], prefix="relayed"))
    assert set(outcomes(consumed)) == {Outcome.SENT}
    assert all(svc.repository.get_attendee(UID, p.email).standing is Standing.CANCELLED
               for p in people)
    assert svc.repository.get_statistics(UID).cancellations_sent == 23


def test_a_fan_out_stopped_by_the_clock_goes_on_in_a_new_message_from_where_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fan_out_module, "FAN_OUT_PAGE", 10)
    relay = InMemoryInviteQueue()
    svc, event = service(relay=relay), sample_event(UID)
    people = invitees(35)
    invite(svc, event, people)
    update = replace(event, sequence=1, summary="Renamed")
    body = encode_message(FanOut(update))

    # Time for the record and two pages, then the deadline is near.
    checks = iter([60.0, 60.0, 60.0, 1.0])
    first = svc.process_batch(records([body]), time_left=lambda: next(checks, 1.0))

    assert outcomes(first) == [Outcome.EXPANDED]
    relayed = [parse_message(m.body) for m in relay.enqueued]
    assert isinstance(relayed[-1], FanOut)  # the rest, as a message of its own
    attendees = [m for m in relayed if isinstance(m, InviteRequest)]
    assert [m.invitee.email for m in attendees] == [p.email for p in people[:20]]
    stored = svc.repository.get_event(UID)
    assert (stored.fanned_out_to, stored.fan_out_done) == (people[19].email, False)

    relay.enqueued.clear()
    second = svc.process_batch(records([body], prefix="again"))
    assert outcomes(second) == [Outcome.EXPANDED]
    assert [parse_message(m.body).invitee.email for m in relay.enqueued] == [
        p.email for p in people[20:]]
    assert svc.repository.get_event(UID).fan_out_done


def test_a_crash_mid_fan_out_resends_at_most_the_page_it_was_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fan_out_module, "FAN_OUT_PAGE", 20)

    class CrashingQueue(InMemoryInviteQueue):
        calls = 0

        def enqueue(self, messages: Any) -> None:
            self.calls += 1
            if self.calls == 4:  # the second group of the second page
                raise RuntimeError("the consumer died here")
            super().enqueue(messages)

    relay = CrashingQueue()
    svc, event = service(relay=relay), sample_event(UID)
    people = invitees(40)
    invite(svc, event, people)
    body = encode_message(FanOut(replace(event, sequence=1)))

    assert outcomes(svc.process_batch(records([body]))) == [Outcome.RETRY]
    assert outcomes(svc.process_batch(records([body]))) == [Outcome.EXPANDED]

    emails = [parse_message(m.body).invitee.email for m in relay.enqueued]
    assert set(emails) == {p.email for p in people}
    # The first page was noted; the group of the second that went before the crash goes
    # again, and the consumer finds those ten sent.
    assert len(emails) == 40 + 10
    consumed = svc.process_batch(records([m.body for m in relay.enqueued], prefix="c"))
    assert sorted(outcomes(consumed)) == sorted([Outcome.SENT] * 40 + [Outcome.DUPLICATE] * 10)


def test_a_fan_out_of_an_older_version_is_stale_and_queues_nothing() -> None:
    relay = InMemoryInviteQueue()
    svc, event = service(relay=relay), sample_event(UID)
    invite(svc, event, invitees(3))
    svc.process_batch(records([encode_message(FanOut(replace(event, sequence=3)))]))
    relay.enqueued.clear()

    late = svc.process_batch(records([encode_message(FanOut(replace(event, sequence=2)))]))
    assert outcomes(late) == [Outcome.STALE]
    assert relay.enqueued == []
    assert svc.repository.get_statistics(UID).stale_requests == 1


def test_an_invitation_sent_after_the_fan_out_passed_its_attendee_is_caught_up() -> None:
    # Consumer A knows only version 0. While it claims Ann's invitation, consumer B records
    # version 1 and fans it out: Ann has no record yet, so the fan-out passes her by. A's
    # batch then finds version 1 recorded, hands Ann's message back, and its redelivery
    # sends her version 1: the older version never has the last word.
    mailer = InMemoryMailer()
    event = sample_event(UID)
    update = replace(event, sequence=1, summary="Moved", start=event.start.replace(hour=14),
                     end=event.end.replace(hour=15))
    ann = Invitee("ann@example.org")

    class FanOutDuringClaim(InMemoryInviteRepository):
        armed = False

        def claim(self, claim: Any) -> Any:
            if self.armed:
                self.armed = False
                other = service(self, mailer)
                assert outcomes(other.fan_out(update)) == [Outcome.SENT, Outcome.EXPANDED]
            return super().claim(claim)

    repository = FanOutDuringClaim()
    bob = Invitee("bob@example.org")
    consumer_a = service(repository, mailer)
    invite(consumer_a, event, [bob])
    repository.armed = True

    first = consumer_a.process_batch(records([encode_message(InviteRequest(event, ann))]))
    (result,) = first.results
    assert result.outcome is Outcome.RETRY and "version 1 was recorded" in (result.reason or "")
    redelivered = consumer_a.process_batch(records([encode_message(InviteRequest(event, ann))]))
    assert outcomes(redelivered) == [Outcome.SENT]

    sent = mailer.sent_to(ann.email)
    assert [b"SEQUENCE:0" in m.data for m in sent] == [True, False]
    assert b"SEQUENCE:1" in sent[1].data and b"SUMMARY:Moved" in sent[1].data
    assert repository.get_attendee(UID, ann.email).sequence == 1
    assert len(mailer.sent_to(bob.email)) == 2  # his invitation, and the fan-out's update
    stats = repository.get_statistics(UID)
    assert (stats.invites_sent, stats.updates_sent) == (2, 2)
    assert repository.recount(UID) == stats


def test_an_invitation_to_an_event_cancelled_meanwhile_is_followed_by_the_cancellation() -> None:
    mailer = InMemoryMailer()
    event = sample_event(UID)
    cancelled = replace(event, sequence=1, status=EventStatus.CANCELLED)

    class CancelledDuringClaim(InMemoryInviteRepository):
        def claim(self, claim: Any) -> Any:
            granted = super().claim(claim)
            self.record_event(cancelled)
            return granted

    repository = CancelledDuringClaim()
    svc = service(repository, mailer)
    body = encode_message(InviteRequest(event, Invitee("ann@example.org")))
    assert outcomes(svc.process_batch(records([body]))) == [Outcome.RETRY]
    assert outcomes(svc.process_batch(records([body]))) == [Outcome.SENT]
    ann = repository.get_attendee(UID, "ann@example.org")
    assert (ann.sequence, ann.standing) == (1, Standing.CANCELLED)
    assert [b"METHOD:CANCEL" in m.data for m in mailer.sent] == [False, True]


def test_a_resend_sends_the_stored_version_once_per_request_however_often_delivered() -> None:
    mailer = InMemoryMailer()
    svc, event = service(mailer=mailer), sample_event(UID)
    ann = Invitee("ann@example.org", name="Ann", partstat=PartStat.ACCEPTED)
    invite(svc, event, [ann])
    update = replace(event, sequence=1, location="Room 5")
    svc.send_invites([InviteRequest(update, ann)])

    resend = encode_message(Resend(UID, "ANN@example.org"))
    first = svc.process_batch([QueueRecord("resend-1", resend, "r1")])
    redelivered = svc.process_batch([QueueRecord("resend-1", resend, "r2")])
    another = svc.process_batch([QueueRecord("resend-2", resend, "r3")])

    assert (outcomes(first), outcomes(redelivered), outcomes(another)) == (
        [Outcome.SENT], [Outcome.DUPLICATE], [Outcome.SENT])
    sent = mailer.sent_to(ann.email)
    assert len(sent) == 4
    assert all(b"SEQUENCE:1" in message.data and b"Room 5" in message.data
               for message in sent[2:])
    stats = svc.repository.get_statistics(UID)
    assert (stats.resends_sent, stats.duplicates_skipped) == (2, 1)
    assert svc.repository.recount(UID) == stats


@pytest.mark.parametrize(("setup", "reason"), [
    ("nothing", "no version of event"),
    ("someone else", "never sent anything"),
    ("removed", "taken off the event"),
])
def test_a_resend_with_nothing_to_send_is_skipped_with_its_reason(setup: str, reason: str) -> None:
    mailer = InMemoryMailer()
    svc, event = service(mailer=mailer), sample_event(UID)
    if setup != "nothing":
        invite(svc, event, [Invitee("bob@example.org")])
    if setup == "removed":
        svc.send_invites([InviteRequest(replace(event, sequence=1), Invitee("ann@example.org"))])
        svc.send_invites([InviteRequest(replace(event, sequence=2), Invitee("ann@example.org"),
                                        InviteAction.REMOVE)])
    before = len(mailer.sent)

    report = svc.process_batch(records([encode_message(Resend(UID, "ann@example.org"))]))

    (result,) = report.results
    assert result.outcome is Outcome.SKIPPED and reason in (result.reason or "")
    assert (result.event_uid, result.address) == (UID, "ann@example.org")
    assert len(mailer.sent) == before
    assert svc.repository.get_statistics(UID).nothing_to_send == 1


def test_each_kind_of_message_has_a_fifo_deduplication_id_of_its_own() -> None:
    event, ann = sample_event(UID), Invitee("ann@example.org")
    ids = [
        outgoing_message(InviteRequest(event, ann)).deduplication_id,
        outgoing_message(InviteRequest(replace(event, sequence=1), ann)).deduplication_id,
        outgoing_message(InviteRequest(replace(event, sequence=1), ann,
                                       InviteAction.REMOVE)).deduplication_id,
        outgoing_message(InviteRequest(replace(event, sequence=1,
                                               status=EventStatus.CANCELLED), ann)
                         ).deduplication_id,
        outgoing_message(Resend(UID, ann.email)).deduplication_id,
        outgoing_message(FanOut(replace(event, sequence=1))).deduplication_id,
        outgoing_message(FanOut(replace(event, sequence=1)), part="m-1").deduplication_id,
    ]
    assert len(set(ids)) == len(ids)
    # Any spelling of the address is the same attendee.
    assert outgoing_message(Resend(UID, " ANN@example.org")).deduplication_id == ids[4]
