"""The invite flow on in-memory adapters: one email per attendee, nothing lost, all counted."""

from __future__ import annotations

import datetime as dt
import email
import itertools
import threading
from email import policy
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.model import Invitee, InviteRequest, InviteState
from cis.errors import MailerError, RepositoryError
from cis.ports.queue import QueueRecord
from cis.services.invites import (
    DEADLINE_RESERVE,
    REPOSITORY_ATTEMPTS,
    InviteService,
    Outcome,
)
from tests.support import (
    RSVP_EMAIL,
    SENDER,
    Clock,
    body,
    counter_ids,
    sample_event,
    sns_wrapped,
)

UID = "launch-2026"
SERVICES = itertools.count(1)


def make_service(repository: Any = None, mailer: Any = None, clock: Clock | None = None,
                 **kwargs: Any) -> InviteService:
    return build_service(
        repository=repository or InMemoryInviteRepository(),
        mailer=mailer or InMemoryMailer(),
        sender=SENDER,
        rsvp_email=RSVP_EMAIL,
        clock=clock or Clock(),
        # Claim tokens tell claimants apart, so each service draws ids of its own.
        new_id=counter_ids(f"service{next(SERVICES)}"),
        sleep=kwargs.pop("sleep", lambda _: None),
        **kwargs,
    )


def records(*bodies: str) -> list[QueueRecord]:
    return [QueueRecord(message_id=f"m{n}", body=b, receipt=f"r{n}")
            for n, b in enumerate(bodies, 1)]


def assert_statistics_match_recount(service: InviteService) -> None:
    before = service.repository.get_statistics(UID)
    assert service.repository.recount(UID) == before


def test_sample_batch_sends_one_email_per_attendee_and_reports_only_the_transient() -> None:
    service = make_service()
    mailer: InMemoryMailer = service.mailer  # type: ignore[assignment]
    mailer.fail("carol@example.org", MailerError("throttled", transient=True))
    batch = records(
        body("ann@example.org", origin="web"),
        body("ANN@example.org", origin="web"),
        '{"request": {"uid": "launch-2026", "email": "x@example.org"}, "event": {"uid": 7}}',
        sns_wrapped(body("bob@example.org", origin="api")),
        body("carol@example.org"),
    )
    report = service.process_batch(batch)

    assert [r.outcome for r in report.results] == [
        Outcome.SENT, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.SENT, Outcome.RETRY]
    assert report.results[2].reason is not None and "event.uid" in report.results[2].reason
    assert report.batch_item_failures() == {"batchItemFailures": [{"itemIdentifier": "m5"}]}
    assert sorted(e.recipient for e in mailer.sent) == ["ann@example.org", "bob@example.org"]

    redelivery = service.process_batch([batch[4]])
    assert [r.outcome for r in redelivery.results] == [Outcome.SENT]
    assert len(mailer.sent_to("carol@example.org")) == 1

    stats = service.repository.get_statistics(UID)
    assert (stats.invites_sent, stats.duplicates_skipped, stats.requests_rejected) == (3, 1, 1)
    assert stats.by_origin == {"web": 1, "api": 1, "unspecified": 1}
    assert stats.rsvp == {"NEEDS-ACTION": 3}
    assert_statistics_match_recount(service)


def test_second_request_for_same_attendee_sends_nothing() -> None:
    service = make_service()
    service.process_batch(records(body("ann@example.org")))
    report = service.process_batch(records(body("Ann@Example.ORG")))
    assert report.results[0].outcome is Outcome.DUPLICATE
    assert len(service.mailer.sent) == 1  # type: ignore[attr-defined]
    assert service.repository.get_statistics(UID).duplicates_skipped == 1


def test_transient_send_failure_never_looks_sent() -> None:
    service = make_service()
    service.mailer.fail("ann@example.org", MailerError("timeout", transient=True))  # type: ignore[attr-defined]
    service.process_batch(records(body("ann@example.org")))
    record = service.repository.get_attendee(UID, "ann@example.org")
    assert record is not None and record.state is InviteState.RELEASED
    assert service.repository.get_statistics(UID).invites_sent == 0


def test_permanent_send_failure_is_recorded_counted_and_acknowledged() -> None:
    service = make_service()
    service.mailer.fail("gone@example.org",  # type: ignore[attr-defined]
                        MailerError("address rejected", transient=False))
    report = service.process_batch(records(body("gone@example.org")))
    assert report.results[0].outcome is Outcome.FAILED
    assert report.retry_message_ids == []
    assert report.acknowledged_receipts == ["r1"]
    record = service.repository.get_attendee(UID, "gone@example.org")
    assert record is not None and record.state is InviteState.FAILED
    assert record.failure_reason == "address rejected"
    assert service.repository.get_statistics(UID).invites_failed == 1
    assert service.process_batch(records(body("gone@example.org"))).results[0].outcome is (
        Outcome.DUPLICATE)
    assert_statistics_match_recount(service)


def test_sent_record_has_message_id_and_history() -> None:
    service = make_service()
    report = service.process_batch(records(body("ann@example.org", name="Ann")))
    record = service.repository.get_attendee(UID, "ann@example.org")
    assert record is not None and record.state is InviteState.SENT
    assert record.delivery_id == report.results[0].delivery_id == "memory-1"
    assert [h.status for h in record.history] == ["NEEDS-ACTION"]


def test_claim_left_by_a_dead_consumer_is_taken_over_after_the_lease() -> None:
    clock = Clock()
    repository = InMemoryInviteRepository()

    class DiesAfterClaim(InMemoryMailer):
        def send(self, email: Any) -> str:
            raise SystemExit("consumer killed")

    dying = make_service(repository, DiesAfterClaim(), clock)
    with pytest.raises(SystemExit):
        dying.process_batch(records(body("ann@example.org")))

    survivor = make_service(repository, InMemoryMailer(), clock)
    early = survivor.process_batch(records(body("ann@example.org")))
    assert early.results[0].outcome is Outcome.RETRY
    assert early.results[0].reason == "another consumer holds the claim"

    clock.advance(minutes=15)
    late = survivor.process_batch(records(body("ann@example.org")))
    assert late.results[0].outcome is Outcome.SENT
    assert len(survivor.mailer.sent) == 1  # type: ignore[attr-defined]
    assert_statistics_match_recount(survivor)


def test_lease_length_is_configurable() -> None:
    class DiesAfterClaim(InMemoryMailer):
        def send(self, email: Any) -> str:
            raise SystemExit("consumer killed")

    clock = Clock()
    service = make_service(mailer=DiesAfterClaim(), clock=clock,
                           claim_lease=dt.timedelta(seconds=30))
    with pytest.raises(SystemExit):
        service.process_batch(records(body("ann@example.org")))
    record = service.repository.get_attendee(UID, "ann@example.org")
    assert record is not None and record.state is InviteState.CLAIMED
    assert record.lease_expires_at == clock.now + dt.timedelta(seconds=30)


def test_two_threads_racing_on_the_same_request_send_exactly_one_email() -> None:
    repository = InMemoryInviteRepository()
    mailer = InMemoryMailer()
    outcomes: list[Outcome] = []
    rounds = 50

    def consume(barrier: threading.Barrier, address: str) -> None:
        service = make_service(repository, mailer)
        message = records(body(address))
        barrier.wait()
        outcomes.extend(r.outcome for r in service.process_batch(message).results)

    for round_number in range(rounds):
        barrier = threading.Barrier(2)
        address = f"race{round_number}@example.org"
        threads = [threading.Thread(target=consume, args=(barrier, address)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(mailer.sent_to(address)) == 1
    assert len(mailer.sent) == rounds
    assert outcomes.count(Outcome.SENT) == rounds
    assert set(outcomes) <= {Outcome.SENT, Outcome.DUPLICATE, Outcome.RETRY}


class FlakyRepository(InMemoryInviteRepository):
    """Fails chosen operations with a transient error a given number of times."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, int] = {}

    def _maybe_fail(self, operation: str) -> None:
        if self.failures.get(operation, 0) > 0:
            self.failures[operation] -= 1
            raise RepositoryError(f"{operation} throttled", transient=True)

    def claim(self, claim: Any) -> Any:
        self._maybe_fail("claim")
        return super().claim(claim)

    def settle(self, settlements: Any) -> Any:
        self._maybe_fail("settle")
        return super().settle(settlements)

    def settle_then_claim(self, settlements: Any, claim: Any) -> Any:
        self._maybe_fail("settle_then_claim")
        return super().settle_then_claim(settlements, claim)

    def apply_statistics(self, event_uid: str, counters: Any) -> None:
        self._maybe_fail("apply_statistics")
        super().apply_statistics(event_uid, counters)


def test_a_claim_the_store_pushes_back_briefly_is_retried_where_it_happened() -> None:
    repository = FlakyRepository()
    repository.failures["claim"] = REPOSITORY_ATTEMPTS - 1
    slept: list[float] = []
    service = make_service(repository, sleep=slept.append)
    report = service.process_batch(records(body("ann@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.SENT]
    # Jittered, growing, and brief: a conflict passes in milliseconds.
    assert len(slept) == REPOSITORY_ATTEMPTS - 1
    assert all(0 <= delay <= 0.02 * 2 ** n for n, delay in enumerate(slept))


def test_a_claim_the_store_keeps_pushing_back_is_retried_by_the_queue() -> None:
    repository = FlakyRepository()
    repository.failures["claim"] = REPOSITORY_ATTEMPTS
    service = make_service(repository)
    report = service.process_batch(records(body("ann@example.org"), body("bob@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.RETRY, Outcome.SENT]


def test_briefly_throttled_settle_is_retried_in_process() -> None:
    repository = FlakyRepository()
    repository.failures["settle"] = 2
    service = make_service(repository)
    report = service.process_batch(records(body("ann@example.org")))
    assert report.results[0].outcome is Outcome.SENT
    assert_statistics_match_recount(service)


def test_a_send_is_recorded_however_long_the_store_pushes_back_while_time_allows() -> None:
    repository = FlakyRepository()
    repository.failures["settle"] = 40
    service = make_service(repository)
    report = service.process_batch(records(body("ann@example.org")), time_left=lambda: 60.0)
    assert report.results[0].outcome is Outcome.SENT
    assert repository.failures["settle"] == 0
    assert_statistics_match_recount(service)


def test_unrecordable_send_is_retried_rather_than_forgotten() -> None:
    repository = FlakyRepository()
    repository.failures["settle"] = 10**6
    left = [30.0]
    service = make_service(repository, sleep=lambda seconds: left.append(left[-1] - seconds))
    report = service.process_batch(records(body("ann@example.org")),
                                   time_left=lambda: left[-1])
    assert report.results[0].outcome is Outcome.RETRY
    assert "not recorded" in (report.results[0].reason or "")
    # It gave up with half the reserve left, not before.
    assert DEADLINE_RESERVE / 2 - 1 <= left[-1] <= DEADLINE_RESERVE


def test_each_send_is_recorded_before_the_next_attendee_is_mailed() -> None:
    repository = InMemoryInviteRepository()
    calls: list[str] = []

    class WatchingMailer(InMemoryMailer):
        """Checks, at each send, that every earlier attendee is already recorded as sent."""

        def send(self, email: Any) -> str:
            for earlier in self.sent:
                record = repository.get_attendee(UID, earlier.recipient)
                assert record is not None and record.state is InviteState.SENT, earlier
            return super().send(email)

    class CallLog(InMemoryInviteRepository):
        def claim(self, claim: Any) -> Any:
            calls.append("claim")
            return repository.claim(claim)

        def settle_then_claim(self, settlements: Any, claim: Any) -> Any:
            calls.append(f"settle {len(settlements)} then claim")
            return repository.settle_then_claim(settlements, claim)

        def settle(self, settlements: Any) -> Any:
            calls.append(f"settle {len(settlements)}")
            return repository.settle(settlements)

    service = make_service(CallLog(), WatchingMailer())
    report = service.process_batch(records(*(body(f"a{n}@example.org") for n in range(4))))
    assert [r.outcome for r in report.results] == [Outcome.SENT] * 4
    assert calls == ["claim"] + ["settle 1 then claim"] * 3 + ["settle 1"]
    assert repository.get_statistics(UID).invites_sent == 4


def test_sends_stay_pending_when_the_write_that_would_record_them_fails() -> None:
    repository = FlakyRepository()
    repository.failures["settle_then_claim"] = REPOSITORY_ATTEMPTS
    service = make_service(repository)
    report = service.process_batch(records(
        body("ann@example.org"), body("bob@example.org"), body("cy@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.SENT, Outcome.RETRY, Outcome.SENT]
    assert repository.get_attendee(UID, "ann@example.org").state is InviteState.SENT
    assert repository.get_attendee(UID, "bob@example.org") is None
    assert repository.get_statistics(UID).invites_sent == 2
    assert_statistics_match_recount(service)


def test_event_no_invitation_can_describe_is_rejected_before_anything_is_claimed() -> None:
    service = make_service()
    start = dt.datetime(2026, 12, 1, 9, 0, 0, 100_000, tzinfo=dt.UTC)
    instant = sample_event(start=start, end=start + dt.timedelta(microseconds=500_000))
    report = service.send_invites([InviteRequest(event=instant, invitee=Invitee(
        email="ann@example.org"))])
    assert [r.outcome for r in report.results] == [Outcome.REJECTED]
    assert "whole second" in (report.results[0].reason or "")
    assert service.repository.get_attendee(instant.uid, "ann@example.org") is None
    assert service.repository.get_statistics(instant.uid).requests_rejected == 1


def test_uncounted_duplicates_are_retried_so_they_get_counted() -> None:
    repository = FlakyRepository()
    service = make_service(repository)
    service.process_batch(records(body("ann@example.org")))
    repository.failures["apply_statistics"] = REPOSITORY_ATTEMPTS
    report = service.process_batch(records(body("ann@example.org"), "not json"))
    assert report.results[0].outcome is Outcome.RETRY
    assert report.results[1].outcome is Outcome.REJECTED  # no event uid: nothing to count
    assert service.process_batch(records(body("ann@example.org"))).results[0].outcome is (
        Outcome.DUPLICATE)
    assert repository.get_statistics(UID).duplicates_skipped == 1


def test_unexpected_error_releases_the_claim_and_retries_only_that_record() -> None:
    class BrokenMailer(InMemoryMailer):
        def send(self, email: Any) -> str:
            if email.recipient == "boom@example.org":
                raise RuntimeError("bug")
            return super().send(email)

    service = make_service(mailer=BrokenMailer())
    report = service.process_batch(records(body("boom@example.org"), body("ok@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.RETRY, Outcome.SENT]
    record = service.repository.get_attendee(UID, "boom@example.org")
    assert record is not None and record.state is InviteState.RELEASED


def test_any_sequence_of_failures_leaves_statistics_equal_to_the_recount() -> None:
    service = make_service()
    mailer: InMemoryMailer = service.mailer  # type: ignore[assignment]
    addresses = [f"user{n}@example.org" for n in range(30)]
    for n, address in enumerate(addresses):
        if n % 3 == 0:
            mailer.fail(address, MailerError("slow down", transient=True), times=2)
        if n % 7 == 0:
            mailer.fail(address, MailerError("no such user", transient=False))
    pending = records(*(body(a, origin=("web", "api")[n % 2]) for n, a in enumerate(addresses)),
                      body(addresses[0]), "garbage")
    for _ in range(5):
        report = service.process_batch(pending)
        retry = set(report.retry_message_ids)
        pending = [r for r in pending if r.message_id in retry]
    assert pending == []
    assert_statistics_match_recount(service)
    stats = service.repository.get_statistics(UID)
    assert stats.invites_sent + stats.invites_failed == 30
    assert len(mailer.sent) == stats.invites_sent


def test_sent_message_is_a_parseable_email_to_the_attendee() -> None:
    service = make_service()
    service.process_batch(records(body("Ann@Example.org", name="Ann")))
    raw = service.mailer.messages[0]  # type: ignore[attr-defined]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "Ann <Ann@Example.org>"
    assert message["From"] == '"Smith, John via Invites" <invites@example.com>'
