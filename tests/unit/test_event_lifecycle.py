"""An invitation's life through the invite flow: updates, cancellations, removals, resends.

Each attendee gets each version once, however often it is requested; an older version never
follows a newer one; answers are asked again when the time moves; statistics equal a recount.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from dataclasses import replace
from typing import Any

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    Event,
    EventStatus,
    HistoryEntry,
    InviteAction,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
    ReplyChange,
    Standing,
)
from cis.services.invites import InviteService, Outcome
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"
SERVICES = itertools.count(1)
ANN, BOB = Invitee("ann@example.org", name="Ann"), Invitee("bob@example.org")


def service(repository: Any = None, mailer: Any = None) -> InviteService:
    return build_service(repository=repository or InMemoryInviteRepository(),
                         mailer=mailer or InMemoryMailer(), sender=SENDER,
                         rsvp_email=RSVP_EMAIL, clock=Clock(),
                         new_id=counter_ids(f"s{next(SERVICES)}"), sleep=lambda _: None)


def send(svc: InviteService, event: Event, *invitees: Invitee,
         action: InviteAction = InviteAction.INVITE) -> list[Outcome]:
    report = svc.send_invites(InviteRequest(event, invitee, action) for invitee in invitees)
    return [result.outcome for result in report.results]


def version(event: Event, sequence: int, **changes: Any) -> Event:
    return replace(event, sequence=sequence, **changes)


def moved(event: Event, sequence: int, hours: int = 1) -> Event:
    return version(event, sequence, start=event.start + dt.timedelta(hours=hours),
                   end=event.end + dt.timedelta(hours=hours))


def sent_count(svc: InviteService, address: str) -> int:
    mailer: InMemoryMailer = svc.mailer  # type: ignore[assignment]
    return len(mailer.sent_to(address))


def assert_statistics_equal_recount(svc: InviteService) -> None:
    before = svc.repository.get_statistics(UID)
    assert svc.repository.recount(UID) == before


def test_an_update_is_sent_once_to_every_attendee_and_an_older_version_never_follows() -> None:
    svc, event = service(), sample_event(UID)
    assert send(svc, event, ANN, BOB) == [Outcome.SENT, Outcome.SENT]

    update = version(event, 1, summary="Product launch, room changed")
    assert send(svc, update, ANN, BOB) == [Outcome.SENT, Outcome.SENT]
    assert send(svc, update, ANN) == [Outcome.DUPLICATE]
    assert send(svc, event, ANN) == [Outcome.STALE]

    assert sent_count(svc, ANN.email) == 2
    record = svc.repository.get_attendee(UID, ANN.email)
    assert (record.sequence, record.standing, record.state) == (1, Standing.INVITED,
                                                                 InviteState.SENT)
    stats = svc.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.updates_sent, stats.duplicates_skipped,
            stats.stale_requests) == (2, 2, 1, 1)
    assert_statistics_equal_recount(svc)


def test_an_older_removal_is_stale_before_any_attendee_is_read() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, version(event, 3), ANN)
    assert send(svc, version(event, 2), BOB, action=InviteAction.REMOVE) == [Outcome.STALE]
    assert svc.repository.get_attendee(UID, BOB.email) is None
    assert svc.repository.get_statistics(UID).stale_requests == 1


def test_an_older_invitation_invites_a_new_attendee_to_the_current_version() -> None:
    # The invitation was queued before the organiser moved the event: the attendee gets
    # the event as it now is, never the old time.
    mailer = InMemoryMailer()
    svc, event = service(mailer=mailer), sample_event(UID)
    send(svc, moved(event, 3), ANN)
    assert send(svc, event, BOB) == [Outcome.SENT]
    assert svc.repository.get_attendee(UID, BOB.email).sequence == 3
    assert b"SEQUENCE:3" in mailer.sent[-1].data
    # For an attendee who already has the current version it is stale.
    assert send(svc, event, ANN) == [Outcome.STALE]
    stats = svc.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.stale_requests) == (2, 1)
    assert_statistics_equal_recount(svc)


def test_an_update_for_an_attendee_never_invited_invites_them_at_that_version() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, event, ANN)
    assert send(svc, version(event, 2), ANN, BOB) == [Outcome.SENT, Outcome.SENT]
    record = svc.repository.get_attendee(UID, BOB.email)
    assert record.sequence == 2
    # The same version reads as an update to Ann and as an invitation to Bob.
    mailer: InMemoryMailer = svc.mailer  # type: ignore[assignment]
    to_ann, to_bob = mailer.sent_to(ANN.email)[-1].data, mailer.sent_to(BOB.email)[0].data
    assert b"SEQUENCE:2" in to_ann and b"SEQUENCE:2" in to_bob
    assert b"Subject: Updated invitation: Product launch" in to_ann
    assert b"Subject: Product launch" in to_bob and b"invites you to" in to_bob
    stats = svc.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.updates_sent) == (2, 1)
    assert_statistics_equal_recount(svc)


def test_a_cancellation_is_sent_to_whoever_was_sent_something_and_to_no_one_else() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, event, ANN)
    cancelled = version(event, 1, status=EventStatus.CANCELLED)

    assert send(svc, cancelled, ANN, BOB) == [Outcome.SENT, Outcome.SKIPPED]

    assert (sent_count(svc, ANN.email), sent_count(svc, BOB.email)) == (2, 0)
    assert svc.repository.get_attendee(UID, ANN.email).standing is Standing.CANCELLED
    assert svc.repository.get_attendee(UID, BOB.email) is None
    stats = svc.repository.get_statistics(UID)
    assert (stats.cancellations_sent, stats.nothing_to_send) == (1, 1)
    assert_statistics_equal_recount(svc)


def test_a_removed_attendee_alone_is_told_and_recorded_as_removed() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, event, ANN, BOB)
    assert send(svc, version(event, 1), ANN, action=InviteAction.REMOVE) == [Outcome.SENT]
    assert send(svc, version(event, 1), ANN, action=InviteAction.REMOVE) == [Outcome.DUPLICATE]

    assert svc.repository.get_attendee(UID, ANN.email).standing is Standing.REMOVED
    assert svc.repository.get_attendee(UID, BOB.email).standing is Standing.INVITED
    assert sent_count(svc, BOB.email) == 1
    assert svc.repository.get_statistics(UID).attendees_removed == 1


def test_a_resend_is_the_one_way_to_send_a_version_twice_and_is_counted() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, event, ANN)
    assert send(svc, event, ANN, action=InviteAction.RESEND) == [Outcome.SENT]
    assert send(svc, event, BOB, action=InviteAction.RESEND) == [Outcome.SKIPPED]
    assert sent_count(svc, ANN.email) == 2
    stats = svc.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.resends_sent, stats.nothing_to_send) == (1, 1, 1)
    assert_statistics_equal_recount(svc)


def answer(svc: InviteService, address: str, partstat: PartStat) -> None:
    record = svc.repository.get_attendee(UID, address)
    assert svc.repository.apply_reply(ReplyChange(
        key=AttendeeKey.of(UID, address), expected_partstat=record.partstat,
        expected_history_length=len(record.history), partstat=partstat,
        last_reply_at=record.sent_at, entry=HistoryEntry(partstat, record.sent_at, "Gmail"),
        counters=statistics.on_rsvp_change(record.partstat, partstat),
    ))


def test_a_new_time_asks_every_attendee_again_and_other_changes_keep_their_answers() -> None:
    svc, event = service(), sample_event(UID)
    send(svc, event, ANN, BOB)
    answer(svc, ANN.email, PartStat.ACCEPTED)
    answer(svc, BOB.email, PartStat.DECLINED)

    send(svc, version(event, 1, location="Room 5"), ANN, BOB)
    assert svc.repository.get_statistics(UID).rsvp == {"ACCEPTED": 1, "DECLINED": 1}

    send(svc, moved(event, 2), ANN, BOB)
    assert svc.repository.get_statistics(UID).rsvp == {"NEEDS-ACTION": 2}
    ann = svc.repository.get_attendee(UID, ANN.email)
    assert (ann.partstat, ann.answer_sequence, ann.sequence) == (PartStat.NEEDS_ACTION, 2, 2)
    assert_statistics_equal_recount(svc)

    answer(svc, ANN.email, PartStat.TENTATIVE)
    send(svc, version(moved(event, 2), 3, summary="Renamed"), ANN)
    assert svc.repository.get_attendee(UID, ANN.email).partstat is PartStat.TENTATIVE
    assert_statistics_equal_recount(svc)


def test_consumers_racing_on_one_update_send_it_once() -> None:
    repository, mailer = InMemoryInviteRepository(), InMemoryMailer()
    event = sample_event(UID)
    send(service(repository, mailer), event, ANN)
    update = version(event, 1)
    barrier = threading.Barrier(4)
    outcomes: list[Outcome] = []

    def consume() -> None:
        svc = service(repository, mailer)
        barrier.wait()
        outcomes.extend(send(svc, update, ANN))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(mailer.sent_to(ANN.email)) == 2
    assert outcomes.count(Outcome.SENT) == 1
    assert set(outcomes) <= {Outcome.SENT, Outcome.DUPLICATE, Outcome.RETRY}


def test_two_versions_of_one_attendee_in_one_batch_are_two_records_not_a_repeat() -> None:
    svc, event = service(), sample_event(UID)
    report = svc.send_invites([InviteRequest(event, ANN), InviteRequest(version(event, 1), ANN)])
    outcomes = [result.outcome for result in report.results]
    # The second waits for the first's claim to be written, then goes with a redelivery.
    assert outcomes[0] is Outcome.SENT
    assert outcomes[1] in (Outcome.SENT, Outcome.RETRY)
    assert send(svc, version(event, 1), ANN) in ([Outcome.SENT], [Outcome.DUPLICATE])
    assert sent_count(svc, ANN.email) == 2
