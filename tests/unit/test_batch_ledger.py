"""The batch ledger on its own: what is unwritten, what stands, repeats and what is counted."""

from __future__ import annotations

from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    HistoryEntry,
    Invitee,
    InviteRequest,
    MarkFailed,
    MarkSent,
    PartStat,
    Release,
)
from cis.ports.queue import QueueRecord
from cis.services.batch_ledger import BatchLedger, Entry
from cis.services.reports import Outcome
from tests.support import FROZEN_NOW, make_claim, sample_event

UID = "launch-2026"


def ledger_of(count: int) -> BatchLedger:
    return BatchLedger([QueueRecord(f"m{n}", "{}", f"r{n}") for n in range(count)])


def request(email: str, uid: str = UID) -> InviteRequest:
    return InviteRequest(sample_event(uid), Invitee(email))


def claimed(ledger: BatchLedger, entry: Entry, email: str) -> AttendeeKey:
    ledger.parsed(entry, request(email))
    claim = make_claim(email, f"token-{entry.position}", FROZEN_NOW)
    ledger.claimed(entry, claim)
    return claim.key


def sent(ledger: BatchLedger, entry: Entry, email: str) -> MarkSent:
    key = claimed(ledger, entry, email)
    settlement = MarkSent(key, f"token-{entry.position}", delivery_id=f"d{entry.position}",
                          at=FROZEN_NOW, history=HistoryEntry(PartStat.NEEDS_ACTION, FROZEN_NOW,
                                                              "cis:invite"))
    ledger.settled(entry, settlement, Outcome.SENT, delivery_id=f"d{entry.position}")
    return settlement


def outcomes(ledger: BatchLedger) -> list[Outcome]:
    return [result.outcome for result in ledger.report().results]


def test_a_send_stands_only_once_its_settlement_is_written() -> None:
    ledger = ledger_of(1)
    settlement = sent(ledger, ledger.entries[0], "ann@example.org")
    assert outcomes(ledger) == [Outcome.RETRY]

    unwritten = ledger.unwritten()
    assert unwritten == [(ledger.entries[0], settlement)]
    assert ledger.written(unwritten, [True]) == []

    (result,) = ledger.report().results
    assert (result.outcome, result.delivery_id, result.address) == (
        Outcome.SENT, "d0", "ann@example.org")
    assert ledger.unwritten() == []


def test_a_send_the_batch_could_not_write_is_retried_with_the_reason() -> None:
    ledger = ledger_of(1)
    sent(ledger, ledger.entries[0], "ann@example.org")
    ledger.not_written(ledger.unwritten(), "throttled")
    (result,) = ledger.report().results
    assert (result.outcome, result.reason, result.delivery_id) == (
        Outcome.RETRY, "handled but not recorded: throttled", None)


def test_a_send_whose_claim_was_taken_over_is_reported_as_lost_but_stands() -> None:
    ledger = ledger_of(1)
    sent(ledger, ledger.entries[0], "ann@example.org")
    lost = ledger.written(ledger.unwritten(), [False])
    assert lost == [ledger.entries[0]]
    assert outcomes(ledger) == [Outcome.SENT]


def test_unwritten_before_a_record_holds_only_the_settlements_of_earlier_records() -> None:
    ledger = ledger_of(4)
    first, second, third, fourth = ledger.entries
    sent(ledger, first, "a@example.org")
    ledger.parsed(second, request("b@example.org"))
    ledger.duplicate(second, "invitation already_sent")
    sent(ledger, third, "c@example.org")
    sent(ledger, fourth, "d@example.org")

    before_third = ledger.unwritten(before=third)
    assert [entry for entry, _ in before_third] == [first]
    ledger.written(before_third, [True])
    assert [entry for entry, _ in ledger.unwritten(before=fourth)] == [third]
    assert [entry for entry, _ in ledger.unwritten()] == [third, fourth]


def test_a_settlement_left_unwritten_by_a_failed_write_is_offered_again() -> None:
    ledger = ledger_of(3)
    first, second, third = ledger.entries
    sent(ledger, first, "a@example.org")
    assert [entry for entry, _ in ledger.unwritten(before=second)] == [first]
    # The write that carried it failed: nothing is marked, so the next claim carries it.
    sent(ledger, second, "b@example.org")
    assert [entry for entry, _ in ledger.unwritten(before=third)] == [first, second]


def test_a_released_claim_is_written_back_and_the_record_retried() -> None:
    ledger = ledger_of(1)
    entry = ledger.entries[0]
    key = claimed(ledger, entry, "ann@example.org")
    ledger.released(entry, "mailer: throttled")
    assert ledger.unwritten() == [(entry, Release(key, "token-0"))]
    ledger.written(ledger.unwritten(), [True])
    assert outcomes(ledger) == [Outcome.RETRY]


def test_a_crash_after_the_mailer_answered_keeps_the_answer() -> None:
    ledger = ledger_of(2)
    sent(ledger, ledger.entries[0], "ann@example.org")
    ledger.crashed(ledger.entries[0], "unexpected error: KeyError()")
    claimed(ledger, ledger.entries[1], "bob@example.org")
    ledger.crashed(ledger.entries[1], "unexpected error: KeyError()")
    settlements = [settlement for _, settlement in ledger.unwritten()]
    assert [type(s) for s in settlements] == [MarkSent, Release]
    ledger.written(ledger.unwritten(), [True, True])
    assert outcomes(ledger) == [Outcome.SENT, Outcome.RETRY]


def test_a_failed_send_stands_once_written_and_is_counted_by_its_settlement() -> None:
    ledger = ledger_of(1)
    entry = ledger.entries[0]
    key = claimed(ledger, entry, "gone@example.org")
    failed = MarkFailed(key, "token-0", reason="rejected", at=FROZEN_NOW,
                        counters=statistics.on_failed())
    ledger.settled(entry, failed, Outcome.FAILED, "mailer: rejected")
    ledger.written(ledger.unwritten(), [True])
    assert outcomes(ledger) == [Outcome.FAILED]
    assert ledger.contributions() == {}


def test_a_repeat_takes_the_fate_of_the_first_record_of_its_attendee() -> None:
    ledger = ledger_of(4)
    first, repeat, retried, repeat_of_retried = ledger.entries
    key = AttendeeKey.of(UID, "ann@example.org")
    other = AttendeeKey.of(UID, "bob@example.org")
    assert ledger.first_of_its_attendee(first, key)
    assert not ledger.first_of_its_attendee(repeat, key)
    assert ledger.first_of_its_attendee(retried, other)
    assert not ledger.first_of_its_attendee(repeat_of_retried, other)
    ledger.parsed(repeat, request("ANN@example.org"))
    ledger.parsed(repeat_of_retried, request("bob@example.org"))
    sent(ledger, first, "ann@example.org")
    ledger.written(ledger.unwritten(), [True])
    ledger.retry(retried, "claim failed: throttled")

    ledger.resolve_repeats()

    assert outcomes(ledger) == [Outcome.SENT, Outcome.DUPLICATE, Outcome.RETRY, Outcome.RETRY]
    assert ledger.report().results[3].reason == (
        "the same attendee earlier in this batch is retried")
    assert ledger.contributions() == {UID: ({"duplicates_skipped": 1}, [repeat])}


def test_counters_are_summed_per_event_and_a_rejection_without_an_event_is_not_counted() -> None:
    ledger = ledger_of(5)
    a, b, c, d, e = ledger.entries
    ledger.reject(a, "event.summary: is required", event_uid="e1")
    ledger.reject(b, "body: not JSON")
    ledger.parsed(c, request("c@example.org", uid="e1"))
    ledger.duplicate(c, "invitation already_sent")
    ledger.parsed(d, request("d@example.org", uid="e2"))
    ledger.duplicate(d, "invitation already_failed")
    ledger.parsed(e, request("e@example.org", uid="e1"))
    ledger.reject(e, "cannot render the event: bad zone")

    assert ledger.contributions() == {
        "e1": ({"requests_rejected": 2, "duplicates_skipped": 1}, [a, c, e]),
        "e2": ({"duplicates_skipped": 1}, [d]),
    }
    results = ledger.report().results
    assert (results[0].event_uid, results[1].event_uid, results[4].event_uid) == (
        "e1", None, "e1")


def test_records_whose_counters_were_not_written_are_retried() -> None:
    ledger = ledger_of(2)
    first, second = ledger.entries
    ledger.reject(first, "event.summary: is required", event_uid="e1")
    ledger.reject(second, "event.summary: is required", event_uid="e2")
    ledger.not_counted(ledger.contributions()["e1"][1], "throttled")
    results = ledger.report().results
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.RETRY, "not counted: throttled"),
        (Outcome.REJECTED, "event.summary: is required"),
    ]


def test_requests_without_a_queue_are_numbered_and_already_parsed() -> None:
    requests = [request("a@example.org"), request("b@example.org")]
    ledger = BatchLedger.of_requests(iter(requests))
    assert [entry.record.message_id for entry in ledger.entries] == ["request-0", "request-1"]
    assert [entry.request for entry in ledger.entries] == requests


def test_a_record_nothing_decided_is_retried_never_dropped() -> None:
    ledger = ledger_of(1)
    assert [(r.outcome, r.reason) for r in ledger.report().results] == [
        (Outcome.RETRY, "not processed")]
