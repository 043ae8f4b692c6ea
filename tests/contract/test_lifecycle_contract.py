"""An invitation's life through the invite and reply services, on every repository.

The same cases run on memory, SQLite and DynamoDB over moto's server: each version once per
attendee, an older one never after a newer one, two consumers racing on one update, a crash
between an update's send and its record, and replies to a version before the time moved.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import itertools
import threading
from dataclasses import replace
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteQueue, InMemoryMailer
from cis.bootstrap import build_rsvp_service, build_service
from cis.domain.model import (
    Event,
    FanOut,
    InviteAction,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
    Standing,
)
from cis.domain.rsvp import ReplyOutcome
from cis.messages.invite_format import encode_message
from cis.ports.mailer import RawEmail
from cis.ports.queue import QueueRecord
from cis.services.invites import InviteService, Outcome
from tests.replies import reply_calendar, reply_email
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"
ANN = Invitee("ann@example.org", name="Ann")
BOB = Invitee("bob@example.org")
SERVICES = itertools.count(1)
REPLY_TIME = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


class Crash(BaseException):
    """The consumer dies: nothing after this point of the batch runs."""


class CrashAfterSending:
    """A mailer that hands the message on, then the consumer dies before recording it."""

    def __init__(self, mailer: InMemoryMailer) -> None:
        self.mailer = mailer

    def send(self, email: RawEmail) -> str:
        self.mailer.send(email)
        raise Crash


def service(repository: Any, mailer: Any, clock: Clock | None = None) -> InviteService:
    return build_service(repository=repository, mailer=mailer, sender=SENDER,
                         rsvp_email=RSVP_EMAIL, clock=clock or Clock(),
                         new_id=counter_ids(f"s{next(SERVICES)}"), sleep=lambda _: None)


def moved(event: Event, sequence: int) -> Event:
    hour = dt.timedelta(hours=1)
    return replace(event, sequence=sequence, start=event.start + hour, end=event.end + hour)


def send(svc: InviteService, event: Event, *invitees: Invitee) -> list[Outcome]:
    report = svc.send_invites(InviteRequest(event, invitee) for invitee in invitees)
    return [result.outcome for result in report.results]


def sequences_sent(mailer: InMemoryMailer, address: str) -> list[int]:
    """The SEQUENCE of each message `address` was sent, read from its calendar part."""
    found = []
    for sent in mailer.sent_to(address):
        message = email.message_from_bytes(sent.data, policy=email.policy.default)
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        lines = part.get_content().splitlines()
        found.append(int(next(x for x in lines if x.startswith("SEQUENCE:")).split(":")[1]))
    return found


def assert_statistics_equal_recount(repository: Any) -> None:
    assert repository.recount(UID) == repository.get_statistics(UID)


def test_each_version_reaches_each_attendee_once_and_an_older_one_never_follows(
    repository: Any,
) -> None:
    mailer = InMemoryMailer()
    svc = service(repository, mailer)
    first = sample_event(UID)
    assert send(svc, first, ANN, BOB) == [Outcome.SENT, Outcome.SENT]

    assert svc.fan_out(moved(first, 1)).count(Outcome.SENT) == 2
    assert svc.fan_out(moved(first, 1)).count(Outcome.SENT) == 0
    assert send(svc, moved(first, 1), ANN) == [Outcome.DUPLICATE]
    assert send(svc, first, ANN, BOB) == [Outcome.STALE, Outcome.STALE]

    assert sequences_sent(mailer, ANN.email) == [0, 1]
    assert sequences_sent(mailer, BOB.email) == [0, 1]
    counts = repository.get_statistics(UID).as_dict()
    assert (counts["invites_sent"], counts["updates_sent"], counts["stale_requests"]) == (2, 2, 2)
    assert_statistics_equal_recount(repository)


def test_two_consumers_racing_on_one_update_send_one_email(repository: Any) -> None:
    mailer = InMemoryMailer()
    first = sample_event(UID)
    send(service(repository, mailer), first, ANN)
    update = InviteRequest(moved(first, 1), ANN)
    consumers = [service(repository, mailer) for _ in range(2)]
    start = threading.Barrier(len(consumers))
    outcomes: list[Outcome] = []

    def consume(svc: InviteService) -> None:
        start.wait()
        outcomes.extend(r.outcome for r in svc.send_invites([update]).results)

    threads = [threading.Thread(target=consume, args=(svc,)) for svc in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The loser waits for the winner (retry) or finds the update sent (duplicate); its
    # redelivery, as the queue would make it, sends nothing either.
    assert outcomes.count(Outcome.SENT) == 1
    assert set(outcomes) - {Outcome.SENT} <= {Outcome.RETRY, Outcome.DUPLICATE}
    assert send(consumers[1], moved(first, 1), ANN) == [Outcome.DUPLICATE]

    assert sequences_sent(mailer, ANN.email) == [0, 1]
    assert repository.get_statistics(UID).as_dict()["updates_sent"] == 1
    assert_statistics_equal_recount(repository)


def test_a_crash_between_an_updates_send_and_its_record_costs_one_email_at_most(
    repository: Any,
) -> None:
    mailer = InMemoryMailer()
    first = sample_event(UID)
    send(service(repository, mailer), first, ANN)
    update = moved(first, 1)

    with pytest.raises(Crash):
        send(service(repository, CrashAfterSending(mailer)), update, ANN)
    held = repository.get_attendee(UID, ANN.email)
    assert (held.state, held.sequence) == (InviteState.CLAIMED, 0)

    # Within the lease the redelivery waits; after it, it takes the claim over and sends.
    assert send(service(repository, mailer), update, ANN) == [Outcome.RETRY]
    later = Clock()
    later.advance(minutes=16)
    assert send(service(repository, mailer, later), update, ANN) == [Outcome.SENT]
    assert send(service(repository, mailer, later), update, ANN) == [Outcome.DUPLICATE]

    assert sequences_sent(mailer, ANN.email) == [0, 1, 1]  # the one window, once
    ann = repository.get_attendee(UID, ANN.email)
    assert (ann.state, ann.sequence) == (InviteState.SENT, 1)
    assert repository.get_statistics(UID).as_dict()["updates_sent"] == 1
    assert_statistics_equal_recount(repository)


def test_a_reply_to_a_version_before_the_time_moved_is_history_only(repository: Any) -> None:
    mailer = InMemoryMailer()
    inviter = service(repository, mailer)
    replies = build_rsvp_service(repository=repository)
    first = sample_event(UID)
    send(inviter, first, ANN)

    def reply(partstat: str, sequence: str, minutes_before: int) -> ReplyOutcome:
        calendar = reply_calendar(ANN.email, partstat, sequence=sequence,
                                  dtstamp=REPLY_TIME - dt.timedelta(minutes=minutes_before))
        return replies.apply_mail(reply_email(calendar)).outcome

    assert reply("ACCEPTED", "0", minutes_before=30) is ReplyOutcome.APPLIED
    assert repository.get_statistics(UID).rsvp["ACCEPTED"] == 1
    assert inviter.fan_out(moved(first, 1)).count(Outcome.SENT) == 1
    assert repository.get_attendee(UID, ANN.email).partstat is PartStat.NEEDS_ACTION
    assert repository.get_statistics(UID).rsvp.get("ACCEPTED", 0) == 0

    assert reply("DECLINED", "0", minutes_before=20) is ReplyOutcome.RECORDED
    ann = repository.get_attendee(UID, ANN.email)
    assert ann.partstat is PartStat.NEEDS_ACTION
    assert ann.history[-1].status == PartStat.DECLINED

    assert reply("ACCEPTED", "1", minutes_before=10) is ReplyOutcome.APPLIED
    assert repository.get_attendee(UID, ANN.email).partstat is PartStat.ACCEPTED
    assert repository.get_statistics(UID).rsvp["ACCEPTED"] == 1
    assert_statistics_equal_recount(repository)


def test_a_removal_that_lands_after_a_fan_out_read_the_attendee_still_stands(
    repository: Any,
) -> None:
    # The event moves at version 2 and, a moment later, Ann is taken off at version 3. The
    # fan-out of version 2 reads Ann (still invited) before her removal is recorded; its
    # message for her then finds her removed at a later version, and is stale.
    mailer, relay = InMemoryMailer(), InMemoryInviteQueue()
    svc = service(repository, mailer)
    first = sample_event(UID)
    send(svc, first, ANN, BOB)
    fanning = build_service(repository=repository, mailer=mailer, sender=SENDER,
                            rsvp_email=RSVP_EMAIL, clock=Clock(), relay=relay,
                            new_id=counter_ids(f"s{next(SERVICES)}"), sleep=lambda _: None)
    fan_out = encode_message(FanOut(moved(first, 2)))
    assert fanning.process_batch([QueueRecord("fan-out", fan_out, "r")]).count(
        Outcome.EXPANDED) == 1
    removal = InviteRequest(moved(first, 3), ANN, InviteAction.REMOVE)
    assert [r.outcome for r in svc.send_invites([removal]).results] == [Outcome.SENT]

    relayed = [QueueRecord(f"m{n}", message.body, f"r{n}")
               for n, message in enumerate(relay.enqueued)]
    outcomes = {r.address: r.outcome for r in svc.process_batch(relayed).results}

    assert outcomes == {ANN.email: Outcome.STALE, BOB.email: Outcome.SENT}
    assert sequences_sent(mailer, ANN.email) == [0, 3]  # the invitation, then the removal
    # Bob's message of version 2 brings him to the version stored now, the removal's 3.
    assert sequences_sent(mailer, BOB.email) == [0, 3]
    assert repository.get_attendee(UID, ANN.email).standing is Standing.REMOVED
    assert_statistics_equal_recount(repository)
