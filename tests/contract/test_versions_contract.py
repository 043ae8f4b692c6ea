"""The versioned claim, on every adapter: later versions once, stale never, answers asked again.

A claim for a version above the first invitation reads the attendee first and is written only
while the attendee is still as read (`ClaimBasis`); these cases run on memory, SQLite and
DynamoDB alike.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from typing import Any

import pytest

from cis.domain import statistics
from cis.domain.claims import claim_counters
from cis.domain.model import (
    AttendeeKey,
    Claim,
    ClaimBasis,
    ClaimOutcome,
    HistoryEntry,
    InviteAction,
    InviteState,
    ItipMethod,
    MarkFailed,
    MarkSent,
    PartStat,
    ReplyChange,
    Standing,
)
from tests.support import FROZEN_NOW, make_claim, sample_event

UID = "launch-2026"
T0 = FROZEN_NOW
ANN = "ann@example.org"
BOB = "bob@example.org"


def version(repository: Any, email: str, token: str, sequence: int, *,
            action: InviteAction = InviteAction.INVITE, standing: Standing = Standing.INVITED,
            answers_from: int = 0, now: dt.datetime = T0) -> Claim:
    """A versioned claim decided on the attendee as the repository has it now."""
    record = repository.get_attendee(UID, email)
    claim = replace(make_claim(email, token, now), sequence=sequence, action=action,
                    standing=standing, answers_from=answers_from,
                    basis=ClaimBasis(record))
    return replace(claim, counters=claim_counters(record, claim))


def sent(email: str, token: str, sequence: int = 0, *, first: bool = True,
         standing: Standing = Standing.INVITED) -> MarkSent:
    counters = statistics.on_sent(PartStat.NEEDS_ACTION, None) if first else {}
    status = PartStat.NEEDS_ACTION if first else standing.method
    return MarkSent(AttendeeKey.of(UID, email), token, delivery_id=f"ses-{token}", at=T0,
                    history=HistoryEntry(status=status, at=T0, source="cis:invite"),
                    counters=counters, sequence=sequence, standing=standing)


def invited(repository: Any, email: str = ANN, sequence: int = 0) -> None:
    """The attendee was sent the first invitation at `sequence`."""
    token = f"first-{email}"
    if sequence == 0:
        assert repository.claim(make_claim(email, token, T0)) is ClaimOutcome.CLAIMED
    else:
        assert repository.claim(version(repository, email, token, sequence)).granted
    assert repository.settle([sent(email, token, sequence)]) == [True]


def test_a_later_version_is_granted_once_and_remembered(repository: Any) -> None:
    invited(repository)
    update = version(repository, ANN, "t2", 2)
    assert repository.claim(update) is ClaimOutcome.CLAIMED
    assert repository.settle([sent(ANN, "t2", 2, first=False)]) == [True]

    record = repository.get_attendee(UID, ANN)
    assert (record.sequence, record.standing, record.method) == (2, Standing.INVITED,
                                                                  ItipMethod.REQUEST)
    assert repository.claim(version(repository, ANN, "t3", 2)) is ClaimOutcome.ALREADY_SENT
    assert repository.claim(version(repository, ANN, "t4", 1)) is ClaimOutcome.STALE
    assert repository.claim(make_claim(ANN, "t5", T0)) is ClaimOutcome.STALE


def test_a_resend_of_the_current_version_is_granted_and_a_new_one_only_for_an_invitee(
    repository: Any,
) -> None:
    invited(repository)
    resend = version(repository, ANN, "t2", 0, action=InviteAction.RESEND)
    assert repository.claim(resend) is ClaimOutcome.CLAIMED
    for action, standing in ((InviteAction.RESEND, Standing.INVITED),
                             (InviteAction.REMOVE, Standing.REMOVED),
                             (InviteAction.INVITE, Standing.CANCELLED)):
        never = version(repository, "bob@example.org", "t9", 3, action=action,
                        standing=standing)
        assert repository.claim(never) is ClaimOutcome.NEVER_SENT
    assert repository.get_attendee(UID, "bob@example.org") is None
    update_for_a_newcomer = version(repository, "bob@example.org", "t10", 3)
    assert repository.claim(update_for_a_newcomer) is ClaimOutcome.CLAIMED


def test_removal_and_cancellation_are_remembered_as_the_attendees_standing(
    repository: Any,
) -> None:
    invited(repository)
    invited(repository, "bob@example.org")
    remove = version(repository, ANN, "t2", 1, action=InviteAction.REMOVE,
                     standing=Standing.REMOVED)
    assert repository.claim(remove) is ClaimOutcome.CLAIMED
    cancel = version(repository, "bob@example.org", "t3", 2, standing=Standing.CANCELLED)
    assert repository.claim(cancel) is ClaimOutcome.CLAIMED
    assert repository.settle([sent(ANN, "t2", 1, first=False, standing=Standing.REMOVED),
                              sent("bob@example.org", "t3", 2, first=False,
                                   standing=Standing.CANCELLED)]) == [True, True]

    ann = repository.get_attendee(UID, ANN)
    bob = repository.get_attendee(UID, "bob@example.org")
    assert (ann.standing, ann.method, ann.sequence) == (Standing.REMOVED, ItipMethod.CANCEL, 1)
    assert (bob.standing, bob.method, bob.sequence) == (Standing.CANCELLED, ItipMethod.CANCEL,
                                                         2)


def test_a_version_below_the_one_being_sent_is_stale_and_the_same_one_waits(
    repository: Any,
) -> None:
    invited(repository)
    assert repository.claim(version(repository, ANN, "t2", 3)) is ClaimOutcome.CLAIMED
    assert repository.claim(version(repository, ANN, "t3", 2)) is ClaimOutcome.STALE
    assert repository.claim(version(repository, ANN, "t4", 3)) is ClaimOutcome.IN_PROGRESS
    assert repository.claim(version(repository, ANN, "t5", 4)) is ClaimOutcome.IN_PROGRESS
    later = T0 + dt.timedelta(minutes=16)
    taken = version(repository, ANN, "t6", 3, now=later)
    assert repository.claim(taken) in (ClaimOutcome.TAKEN_OVER, ClaimOutcome.CLAIMED)
    assert repository.get_attendee(UID, ANN).claim_token == "t6"


def test_a_version_the_mailer_refused_for_good_is_not_tried_again_but_a_later_one_is(
    repository: Any,
) -> None:
    invited(repository)
    assert repository.claim(version(repository, ANN, "t2", 1)) is ClaimOutcome.CLAIMED
    key = AttendeeKey.of(UID, ANN)
    assert repository.settle([MarkFailed(key, "t2", reason="bounced", at=T0,
                                         counters=statistics.on_failed())]) == [True]
    assert repository.claim(version(repository, ANN, "t3", 1)) is ClaimOutcome.ALREADY_FAILED
    assert repository.claim(version(repository, ANN, "t4", 0)) is ClaimOutcome.STALE
    resend = version(repository, ANN, "t5", 1, action=InviteAction.RESEND)
    assert repository.claim(resend) is ClaimOutcome.CLAIMED
    record = repository.get_attendee(UID, ANN)
    assert (record.state, record.sequence, record.failure_reason) == (
        InviteState.CLAIMED, 0, None)


def test_a_versioned_claim_on_an_attendee_that_changed_since_it_was_read_changes_nothing(
    repository: Any,
) -> None:
    invited(repository)
    update = version(repository, ANN, "t2", 1)
    record = repository.get_attendee(UID, ANN)
    reply = ReplyChange(
        key=record.key, expected_partstat=record.partstat,
        expected_history_length=len(record.history), partstat=PartStat.ACCEPTED,
        last_reply_at=T0, entry=HistoryEntry(PartStat.ACCEPTED, T0, "Gmail"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, PartStat.ACCEPTED),
    )
    assert repository.apply_reply(reply) is True

    assert repository.claim(update) is ClaimOutcome.CHANGED
    after = repository.get_attendee(UID, ANN)
    assert (after.state, after.partstat) == (InviteState.SENT, PartStat.ACCEPTED)
    assert repository.claim(version(repository, ANN, "t2", 1)) is ClaimOutcome.CLAIMED


def test_a_new_time_asks_for_the_answer_again_and_moves_the_counts(repository: Any) -> None:
    invited(repository)
    record = repository.get_attendee(UID, ANN)
    assert repository.apply_reply(ReplyChange(
        key=record.key, expected_partstat=PartStat.NEEDS_ACTION,
        expected_history_length=len(record.history), partstat=PartStat.ACCEPTED,
        last_reply_at=T0, entry=HistoryEntry(PartStat.ACCEPTED, T0, "Gmail"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, PartStat.ACCEPTED),
    )) is True

    moved = version(repository, ANN, "t2", 2, answers_from=2)
    assert repository.claim(moved) is ClaimOutcome.CLAIMED
    record = repository.get_attendee(UID, ANN)
    assert (record.partstat, record.answer_sequence) == (PartStat.NEEDS_ACTION, 2)
    assert repository.get_statistics(UID).rsvp == {"NEEDS-ACTION": 1}
    assert repository.recount(UID).rsvp == {"NEEDS-ACTION": 1}
    # A later version with no new time keeps the answer it finds.
    assert repository.settle([sent(ANN, "t2", 2, first=False)]) == [True]
    kept = version(repository, ANN, "t3", 3, answers_from=2)
    assert kept.counters == {}
    assert repository.claim(kept) is ClaimOutcome.CLAIMED
    assert repository.get_attendee(UID, ANN).answer_sequence == 2


def test_an_attendee_answers_while_a_later_version_is_being_sent(repository: Any) -> None:
    invited(repository)
    assert repository.claim(version(repository, ANN, "t2", 1)) is ClaimOutcome.CLAIMED
    record = repository.get_attendee(UID, ANN)
    assert repository.apply_reply(ReplyChange(
        key=record.key, expected_partstat=record.partstat,
        expected_history_length=len(record.history), partstat=PartStat.DECLINED,
        last_reply_at=T0, entry=HistoryEntry(PartStat.DECLINED, T0, "Gmail"),
        counters=statistics.on_rsvp_change(PartStat.NEEDS_ACTION, PartStat.DECLINED),
    )) is True
    # The update's claim still owns the attendee: the reply changed the answer, not the claim.
    assert repository.settle([sent(ANN, "t2", 1, first=False)]) == [True]
    assert repository.get_attendee(UID, ANN).partstat is PartStat.DECLINED


@pytest.mark.parametrize("contenders", [2, 6])
def test_consumers_racing_to_send_one_update_grant_it_once(
    repository: Any, contenders: int,
) -> None:
    invited(repository)
    claims = [version(repository, ANN, f"racer-{n}", 1) for n in range(contenders)]
    barrier = threading.Barrier(contenders)
    outcomes: list[ClaimOutcome] = []
    lock = threading.Lock()

    def race(claim: Claim) -> None:
        barrier.wait()
        outcome = repository.claim(claim)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=race, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [outcome.granted for outcome in outcomes].count(True) == 1
    assert set(outcomes) - {ClaimOutcome.CLAIMED} <= {
        ClaimOutcome.CHANGED, ClaimOutcome.IN_PROGRESS}


# --- the version fence: a first message settled after a newer version was stored -------------

def test_a_first_message_settled_after_a_newer_version_was_stored_is_reported(
    repository: Any,
) -> None:
    repository.record_event(sample_event(UID))
    assert repository.claim(make_claim(ANN, "t-ann", T0)) is ClaimOutcome.CLAIMED
    assert repository.claim(make_claim(BOB, "t-bob", T0)) is ClaimOutcome.CLAIMED
    repository.record_event(replace(sample_event(UID), sequence=2))

    applied = repository.settle([replace(sent(ANN, "t-ann"), fence=0)])
    # Recorded all the same: the message was sent.
    assert (list(applied), applied.overtaken) == ([True], {UID: 2})
    assert repository.get_attendee(UID, ANN).sequence == 0
    assert repository.get_statistics(UID).invites_sent == 1

    # The same through settle_then_claim, which also claims the next attendee.
    applied, granted = repository.settle_then_claim(
        [replace(sent(BOB, "t-bob"), fence=0)], make_claim("cy@example.org", "t-cy", T0))
    assert (list(applied), applied.overtaken, granted) == ([True], {UID: 2},
                                                           ClaimOutcome.CLAIMED)
    assert repository.get_statistics(UID).invites_sent == 2
    assert repository.recount(UID) == repository.get_statistics(UID)


def test_a_first_message_of_the_stored_version_passes_its_fence(repository: Any) -> None:
    repository.record_event(replace(sample_event(UID), sequence=2))
    assert repository.claim(replace(make_claim(ANN, "t-ann", T0), sequence=2,
                                    basis=ClaimBasis(None))).granted
    applied = repository.settle([replace(sent(ANN, "t-ann", 2), fence=2)])
    assert (list(applied), applied.overtaken) == ([True], {})
    # A later message carries no fence: the fan-out of a newer version reaches it.
    repository.record_event(replace(sample_event(UID), sequence=3))
    assert repository.claim(version(repository, ANN, "t-2", 3)).granted
    applied = repository.settle([sent(ANN, "t-2", 3, first=False)])
    assert (list(applied), applied.overtaken) == ([True], {})


def test_the_fence_outlives_a_recount(repository: Any) -> None:
    repository.record_event(replace(sample_event(UID), sequence=1))
    invited(repository, BOB, sequence=1)
    repository.recount(UID)
    assert repository.claim(make_claim(ANN, "t-ann", T0)) is ClaimOutcome.CLAIMED
    applied = repository.settle([replace(sent(ANN, "t-ann"), fence=0)])
    assert applied.overtaken == {UID: 1}
