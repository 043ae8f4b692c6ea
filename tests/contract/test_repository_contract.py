"""The repository contract: claim, take-over, settle, statistics and recount, on every adapter."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from typing import Any

from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    ClaimOutcome,
    HistoryEntry,
    InviteState,
    MarkFailed,
    MarkSent,
    PartStat,
    Release,
    ReplyChange,
)
from tests.support import FROZEN_NOW, make_claim

UID = "launch-2026"
T0 = FROZEN_NOW


def sent(email: str, token: str, *, at: dt.datetime = T0, origin: str | None = None,
         message_id: str = "ses-1") -> MarkSent:
    return MarkSent(
        AttendeeKey.of(UID, email), token, delivery_id=message_id, at=at,
        history=HistoryEntry(status="NEEDS-ACTION", at=at, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, origin),
    )


def test_first_claim_is_granted_and_recorded_as_claimed(repository: Any) -> None:
    assert repository.claim(make_claim("Ann@Example.org", "t1", T0, name="Ann")) is (
        ClaimOutcome.CLAIMED
    )
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.state is InviteState.CLAIMED
    assert record.email == "Ann@Example.org"
    assert record.key == AttendeeKey(UID, "ann@example.org")
    assert record.name == "Ann"
    assert record.claim_token == "t1"


def test_live_claim_is_in_progress_for_everyone_else(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    later = T0 + dt.timedelta(minutes=14)
    assert repository.claim(make_claim("ANN@example.org", "t2", later)) is (
        ClaimOutcome.IN_PROGRESS
    )
    assert repository.get_attendee(UID, "ann@example.org").claim_token == "t1"


def test_a_claim_written_again_with_its_own_token_is_still_granted(repository: Any) -> None:
    # A claimant whose write's answer was lost, or that retries after a conflict, writes the
    # same claim again: it must not find itself "in progress" until its own lease ends.
    claim = make_claim("ann@example.org", "t1", T0)
    assert repository.claim(claim) is ClaimOutcome.CLAIMED
    assert repository.claim(claim) is ClaimOutcome.CLAIMED
    applied, outcome = repository.settle_then_claim([], claim)
    assert (applied, outcome) == ([], ClaimOutcome.CLAIMED)
    assert repository.get_attendee(UID, "ann@example.org").claim_token == "t1"
    repository.settle([sent("ann@example.org", "t1")])
    assert repository.claim(claim) is ClaimOutcome.ALREADY_SENT


def test_expired_claim_is_taken_over(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    later = T0 + dt.timedelta(minutes=15, seconds=1)
    # DynamoDB claims in a transaction, which returns no old item: a take-over reads CLAIMED.
    assert repository.claim(make_claim("ann@example.org", "t2", later)) in (
        ClaimOutcome.TAKEN_OVER, ClaimOutcome.CLAIMED)
    assert repository.get_attendee(UID, "ann@example.org").claim_token == "t2"


def test_sent_invitation_is_never_claimed_again(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    assert repository.settle([sent("ann@example.org", "t1")]) == [True]
    much_later = T0 + dt.timedelta(days=30)
    assert repository.claim(make_claim("ann@example.org", "t2", much_later)) is (
        ClaimOutcome.ALREADY_SENT
    )


def test_mark_sent_records_message_id_history_and_counts(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0, origin="web"))
    repository.settle([sent("ann@example.org", "t1", origin="web", message_id="ses-42")])
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.state is InviteState.SENT
    assert record.delivery_id == "ses-42"
    assert record.sent_at == T0
    assert record.claim_token is None
    assert record.history == (HistoryEntry(status="NEEDS-ACTION", at=T0, source="cis:invite"),)
    stats = repository.get_statistics(UID)
    assert stats.invites_sent == 1
    assert stats.rsvp == {"NEEDS-ACTION": 1}
    assert stats.by_origin == {"web": 1}


def test_released_claim_can_be_claimed_at_once(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    assert repository.settle([Release(AttendeeKey.of(UID, "ann@example.org"), "t1")]) == [True]
    assert repository.get_attendee(UID, "ann@example.org").state is InviteState.RELEASED
    assert repository.claim(make_claim("ann@example.org", "t2", T0)) is ClaimOutcome.CLAIMED
    assert repository.get_statistics(UID).invites_sent == 0


def test_failed_invitation_keeps_its_reason_and_is_not_retried(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    failed = MarkFailed(AttendeeKey.of(UID, "ann@example.org"), "t1", reason="rejected",
                        at=T0, counters=statistics.on_failed())
    assert repository.settle([failed]) == [True]
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.state is InviteState.FAILED
    assert record.failure_reason == "rejected"
    assert repository.get_statistics(UID).invites_failed == 1
    assert repository.claim(make_claim("ann@example.org", "t2", T0)) is (
        ClaimOutcome.ALREADY_FAILED
    )


def test_slow_consumer_cannot_settle_a_claim_taken_over(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "slow", T0))
    later = T0 + dt.timedelta(minutes=20)
    repository.claim(make_claim("ann@example.org", "fast", later))
    applied = repository.settle([
        sent("ann@example.org", "slow"),
        Release(AttendeeKey.of(UID, "ann@example.org"), "slow"),
    ])
    assert applied == [False, False]
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.state is InviteState.CLAIMED
    assert record.claim_token == "fast"
    assert repository.get_statistics(UID).invites_sent == 0


def test_settle_applies_each_settlement_on_its_own(repository: Any) -> None:
    for number in range(12):
        repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0))
    settlements = [sent(f"a{n}@example.org", f"t{n}") for n in range(12)]
    settlements[3] = sent("a3@example.org", "wrong-token")
    applied = repository.settle(settlements)
    assert applied == [n != 3 for n in range(12)]
    assert repository.get_statistics(UID).invites_sent == 11


def test_settle_then_claim_records_the_last_send_and_claims_the_next(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    applied, outcome = repository.settle_then_claim(
        [sent("ann@example.org", "t1", message_id="ses-ann")],
        make_claim("bob@example.org", "t2", T0),
    )
    assert (applied, outcome) == ([True], ClaimOutcome.CLAIMED)
    ann = repository.get_attendee(UID, "ann@example.org")
    assert (ann.state, ann.delivery_id) == (InviteState.SENT, "ses-ann")
    assert repository.get_attendee(UID, "bob@example.org").claim_token == "t2"
    assert repository.get_statistics(UID).invites_sent == 1


def test_settle_then_claim_settles_even_when_the_claim_is_refused(repository: Any) -> None:
    invited(repository, "bob@example.org")
    repository.claim(make_claim("cy@example.org", "live", T0))
    repository.claim(make_claim("ann@example.org", "t1", T0))
    repository.claim(make_claim("dee@example.org", "t3", T0))
    applied, outcome = repository.settle_then_claim(
        [sent("ann@example.org", "t1")], make_claim("bob@example.org", "t2", T0)
    )
    assert (applied, outcome) == ([True], ClaimOutcome.ALREADY_SENT)
    failed = MarkFailed(AttendeeKey.of(UID, "dee@example.org"), "t3", reason="550",
                        at=T0, counters=statistics.on_failed())
    applied, outcome = repository.settle_then_claim(
        [failed], make_claim("cy@example.org", "t4", T0 + dt.timedelta(minutes=1))
    )
    assert (applied, outcome) == ([True], ClaimOutcome.IN_PROGRESS)
    assert repository.get_attendee(UID, "ann@example.org").state is InviteState.SENT
    assert repository.get_attendee(UID, "dee@example.org").state is InviteState.FAILED
    assert repository.get_attendee(UID, "cy@example.org").claim_token == "live"
    stats = repository.get_statistics(UID)
    assert (stats.invites_sent, stats.invites_failed) == (2, 1)


def test_settle_then_claim_reports_a_lost_settlement_and_still_claims(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    repository.claim(make_claim("bob@example.org", "t2", T0))
    applied, outcome = repository.settle_then_claim(
        [sent("ann@example.org", "t1"), sent("bob@example.org", "stolen")],
        make_claim("cy@example.org", "t3", T0),
    )
    assert (applied, outcome) == ([True, False], ClaimOutcome.CLAIMED)
    assert repository.get_attendee(UID, "bob@example.org").state is InviteState.CLAIMED
    assert repository.get_attendee(UID, "cy@example.org").state is InviteState.CLAIMED
    assert repository.get_statistics(UID).invites_sent == 1


def test_settle_then_claim_takes_over_an_expired_claim(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    repository.claim(make_claim("bob@example.org", "old", T0))
    later = T0 + dt.timedelta(minutes=16)
    applied, outcome = repository.settle_then_claim(
        [sent("ann@example.org", "t1")], make_claim("bob@example.org", "new", later)
    )
    assert applied == [True]
    assert outcome.granted
    assert repository.get_attendee(UID, "bob@example.org").claim_token == "new"


def test_settle_then_claim_of_the_same_attendee_settles_first(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    release = Release(AttendeeKey.of(UID, "ann@example.org"), "t1")
    applied, outcome = repository.settle_then_claim(
        [release], make_claim("ann@example.org", "t2", T0)
    )
    assert (applied, outcome) == ([True], ClaimOutcome.CLAIMED)
    assert repository.get_attendee(UID, "ann@example.org").claim_token == "t2"


def test_settle_then_claim_carries_more_settlements_than_one_transaction_holds(
    repository: Any,
) -> None:
    count = 120
    for number in range(count):
        repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0))
    applied, outcome = repository.settle_then_claim(
        [sent(f"a{n}@example.org", f"t{n}") for n in range(count)],
        make_claim("next@example.org", "tn", T0),
    )
    assert (applied, outcome) == ([True] * count, ClaimOutcome.CLAIMED)
    assert repository.get_statistics(UID).invites_sent == count


def test_settle_then_claim_with_nothing_to_settle_is_a_claim(repository: Any) -> None:
    assert repository.settle_then_claim([], make_claim("ann@example.org", "t1", T0)) == (
        [], ClaimOutcome.CLAIMED
    )


def test_statistics_add_up_and_unknown_events_read_as_zero(repository: Any) -> None:
    repository.apply_statistics(UID, statistics.on_rejected())
    repository.apply_statistics(UID, statistics.merge(statistics.on_duplicate(),
                                                      statistics.on_duplicate()))
    stats = repository.get_statistics(UID)
    assert (stats.requests_rejected, stats.duplicates_skipped) == (1, 2)
    assert repository.get_statistics("never-seen").invites_sent == 0


def test_counts_under_one_marker_are_added_once(repository: Any) -> None:
    rejected = statistics.on_rejected()
    assert repository.apply_statistics_once("mail-1", "_rsvp", rejected) is True
    assert repository.apply_statistics_once("mail-1", "_rsvp", rejected) is False
    assert repository.apply_statistics_once("mail-2", "_rsvp", rejected) is True
    assert repository.get_statistics("_rsvp").requests_rejected == 2


def test_a_marker_is_known_whatever_event_it_was_counted_under(repository: Any) -> None:
    assert repository.apply_statistics_once("mail-1", UID, statistics.on_rejected()) is True
    assert repository.apply_statistics_once("mail-1", "other", statistics.on_rejected()) is False
    assert repository.get_statistics("other").requests_rejected == 0
    assert repository.recount(UID).requests_rejected == 1


def test_concurrent_counts_under_one_marker_add_once(repository: Any) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    added: list[bool] = []

    def count() -> None:
        barrier.wait()
        added.append(repository.apply_statistics_once("mail-1", UID, statistics.on_rejected()))

    threads = [threading.Thread(target=count) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [False] * (workers - 1) + [True]
    assert repository.get_statistics(UID).requests_rejected == 1


def test_recount_rebuilds_drifted_statistics_from_records(repository: Any) -> None:
    for number in range(3):
        repository.claim(make_claim(f"a{number}@example.org", f"t{number}", T0, origin="api"))
    repository.settle([sent(f"a{n}@example.org", f"t{n}", origin="api") for n in range(3)])
    repository.apply_statistics(UID, statistics.on_duplicate())
    repository.apply_statistics(UID, {statistics.INVITES_SENT: 5, "origin:api": -1})
    rebuilt = repository.recount(UID)
    assert rebuilt.invites_sent == 3
    assert rebuilt.by_origin == {"api": 3}
    assert rebuilt.rsvp == {"NEEDS-ACTION": 3}
    assert rebuilt.duplicates_skipped == 1
    assert repository.get_statistics(UID) == rebuilt


def test_take_over_keeps_the_earlier_history(repository: Any) -> None:
    repository.claim(make_claim("ann@example.org", "t1", T0))
    repository.settle([Release(AttendeeKey.of(UID, "ann@example.org"), "t1")])
    repository.claim(make_claim("ann@example.org", "t2", T0))
    repository.settle([sent("ann@example.org", "t2")])
    repository.claim(make_claim("bob@example.org", "t3", T0))
    assert len(repository.get_attendee(UID, "ann@example.org").history) == 1
    assert repository.get_attendee(UID, "bob@example.org").history == ()


def test_exactly_one_of_many_concurrent_claimants_wins(repository: Any) -> None:
    claimants = 8
    barrier = threading.Barrier(claimants)
    outcomes: list[ClaimOutcome] = []
    lock = threading.Lock()

    def claim(token: str) -> None:
        barrier.wait()
        outcome = repository.claim(make_claim("race@example.org", token, T0))
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=claim, args=(f"t{n}",)) for n in range(claimants)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted(
        [ClaimOutcome.CLAIMED] + [ClaimOutcome.IN_PROGRESS] * (claimants - 1)
    )


def replied(email: str, *, old: PartStat, new: PartStat, length: int, at: dt.datetime,
            source: str = "-//Google Inc//Google Calendar 70.9054//EN") -> ReplyChange:
    return ReplyChange(
        key=AttendeeKey.of(UID, email), expected_partstat=old, expected_history_length=length,
        partstat=new, last_reply_at=at,
        entry=HistoryEntry(status=str(new), at=at, source=source),
        counters=statistics.on_rsvp_change(old, new),
    )


def invited(repository: Any, email: str) -> None:
    repository.claim(make_claim(email, "t-" + email, T0))
    repository.settle([sent(email, "t-" + email)])


def test_reply_sets_status_history_last_reply_and_moves_the_counts(repository: Any) -> None:
    invited(repository, "ann@example.org")
    at = T0 + dt.timedelta(hours=2)
    change = replied("ANN@example.org", old=PartStat.NEEDS_ACTION, new=PartStat.ACCEPTED,
                     length=1, at=at)
    assert repository.apply_reply(change) is True
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.partstat is PartStat.ACCEPTED
    assert record.last_reply_at == at
    assert record.history[-1] == change.entry
    assert len(record.history) == 2
    assert repository.get_statistics(UID).rsvp == {"ACCEPTED": 1}
    assert repository.recount(UID).rsvp == {"ACCEPTED": 1}


def test_reply_decided_on_a_stale_read_changes_nothing(repository: Any) -> None:
    invited(repository, "ann@example.org")
    first = replied("ann@example.org", old=PartStat.NEEDS_ACTION, new=PartStat.ACCEPTED,
                    length=1, at=T0 + dt.timedelta(hours=1))
    assert repository.apply_reply(first) is True
    again = repository.apply_reply(first)
    wrong_status = replied("ann@example.org", old=PartStat.NEEDS_ACTION,
                           new=PartStat.DECLINED, length=2, at=T0 + dt.timedelta(hours=3))
    assert (again, repository.apply_reply(wrong_status)) == (False, False)
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.partstat is PartStat.ACCEPTED
    assert len(record.history) == 2
    assert repository.get_statistics(UID).rsvp == {"ACCEPTED": 1}


def test_reply_that_only_records_history_keeps_the_status(repository: Any) -> None:
    invited(repository, "ann@example.org")
    stale = ReplyChange(
        key=AttendeeKey.of(UID, "ann@example.org"), expected_partstat=PartStat.NEEDS_ACTION,
        expected_history_length=1, partstat=PartStat.NEEDS_ACTION, last_reply_at=None,
        entry=HistoryEntry(status="COUNTER", at=T0, source="Microsoft Exchange Server 2010"),
    )
    assert repository.apply_reply(stale) is True
    record = repository.get_attendee(UID, "ann@example.org")
    assert record.partstat is PartStat.NEEDS_ACTION
    assert record.last_reply_at is None
    assert [h.status for h in record.history] == ["NEEDS-ACTION", "COUNTER"]


def test_a_reply_that_drops_older_replies_writes_the_kept_history_and_counts_them(
    repository: Any,
) -> None:
    invited(repository, "ann@example.org")
    first = replied("ann@example.org", old=PartStat.NEEDS_ACTION, new=PartStat.ACCEPTED,
                    length=1, at=T0 + dt.timedelta(hours=1))
    assert repository.apply_reply(first) is True
    invitation = repository.get_attendee(UID, "ann@example.org").history[0]
    second = replied("ann@example.org", old=PartStat.ACCEPTED, new=PartStat.DECLINED,
                     length=2, at=T0 + dt.timedelta(hours=2))
    kept = (invitation, second.entry)
    assert repository.apply_reply(replace(second, history=kept)) is True
    record = repository.get_attendee(UID, "ann@example.org")
    assert (record.history, record.replies_dropped) == (kept, 1)
    assert record.partstat is PartStat.DECLINED
    # Same status, same length: only the count of dropped replies tells this read is stale.
    third = replied("ann@example.org", old=PartStat.DECLINED, new=PartStat.TENTATIVE,
                    length=2, at=T0 + dt.timedelta(hours=3))
    kept_third = (invitation, third.entry)
    assert repository.apply_reply(replace(third, history=kept_third)) is False
    assert repository.apply_reply(replace(third, history=kept_third,
                                          expected_replies_dropped=1)) is True
    record = repository.get_attendee(UID, "ann@example.org")
    assert (record.history, record.replies_dropped) == (kept_third, 2)
    assert repository.get_statistics(UID).rsvp == {"TENTATIVE": 1}


def test_reply_for_an_attendee_never_sent_is_not_applied(repository: Any) -> None:
    change = replied("nobody@example.org", old=PartStat.NEEDS_ACTION, new=PartStat.ACCEPTED,
                     length=0, at=T0)
    assert repository.apply_reply(change) is False
    assert repository.get_attendee(UID, "nobody@example.org") is None
    repository.claim(make_claim("claimed@example.org", "t1", T0))
    claimed = replied("claimed@example.org", old=PartStat.NEEDS_ACTION,
                      new=PartStat.ACCEPTED, length=0, at=T0)
    assert repository.apply_reply(claimed) is False
    assert repository.get_statistics(UID).rsvp == {}


def test_concurrent_replies_on_one_read_apply_exactly_once(repository: Any) -> None:
    invited(repository, "race@example.org")
    contenders = 6
    barrier = threading.Barrier(contenders)
    results: list[bool] = []
    lock = threading.Lock()

    def apply(hour: int) -> None:
        change = replied("race@example.org", old=PartStat.NEEDS_ACTION,
                         new=PartStat.ACCEPTED if hour % 2 else PartStat.DECLINED,
                         length=1, at=T0 + dt.timedelta(hours=hour))
        barrier.wait()
        outcome = repository.apply_reply(change)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=apply, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert len(repository.get_attendee(UID, "race@example.org").history) == 2
    assert sum(repository.get_statistics(UID).rsvp.values()) == 1
