"""The invite flow under the mail system's limits and the consumer's deadline.

Pacing keeps one service under its share of the send rate; a throttle stops the batch and a
refusal for the whole account halts the consumer, handing the rest back untouched; a batch
near its deadline takes no more records, so what it sent is recorded in time.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.errors import MailerError
from cis.ports.queue import QueueRecord
from cis.services.invites import InviteService, Outcome
from cis.services.pacing import SendPacer
from tests.support import RSVP_EMAIL, SENDER, Clock, body, counter_ids

UID = "launch-2026"
SERVICES = itertools.count(1)


class FakeTime:
    """A monotonic clock that only `sleep` moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class TimedMailer(InMemoryMailer):
    """Notes the fake time of every accepted send."""

    def __init__(self, time: FakeTime) -> None:
        super().__init__()
        self.time = time
        self.at: list[float] = []

    def send(self, email: Any) -> str:
        message_id = super().send(email)
        self.at.append(self.time.now)
        return message_id


def records(count: int, *, prefix: str = "a") -> list[QueueRecord]:
    return [QueueRecord(f"m{n}", body(f"{prefix}{n}@example.org"), f"r{n}")
            for n in range(count)]


def service_with(mailer: InMemoryMailer, repository: Any = None, **kwargs: Any) -> InviteService:
    return build_service(
        repository=repository or InMemoryInviteRepository(), mailer=mailer, sender=SENDER,
        rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids(f"s{next(SERVICES)}"),
        **kwargs,
    )


def test_a_paced_service_spaces_its_sends_one_interval_apart() -> None:
    time = FakeTime()
    mailer = TimedMailer(time)
    service = service_with(mailer, sleep=time.sleep)
    service.pacer = SendPacer(4.0, clock=time.clock, sleep=time.sleep)

    report = service.process_batch(records(6))

    assert report.count(Outcome.SENT) == 6
    gaps = [later - earlier for earlier, later in itertools.pairwise(mailer.at)]
    assert gaps == pytest.approx([0.25] * 5)


def test_the_library_door_paces_to_max_send_rate_and_leaves_it_out_unpaced() -> None:
    assert service_with(InMemoryMailer()).pacer is None
    paced = service_with(InMemoryMailer(), max_send_rate=2.5)
    assert paced.pacer is not None and paced.pacer.rate == 2.5
    with pytest.raises(ValueError, match="positive"):
        service_with(InMemoryMailer(), max_send_rate=0)


def test_a_throttled_send_stops_the_batch_and_hands_the_rest_back_untouched() -> None:
    mailer = InMemoryMailer()
    mailer.fail("a2@example.org", MailerError("SES TooManyRequestsException: slow down",
                                              transient=True, throttled=True))
    repository = InMemoryInviteRepository()
    service = service_with(mailer, repository)

    report = service.process_batch(records(6))

    assert [r.outcome for r in report.results] == [
        Outcome.SENT, Outcome.SENT, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY]
    assert [r.recipient for r in mailer.sent] == ["a0@example.org", "a1@example.org"]
    # The throttled one gave its claim back; the rest were never claimed, only handed back.
    assert repository.get_attendee(UID, "a2@example.org").state.value == "released"
    assert all(repository.get_attendee(UID, f"a{n}@example.org") is None for n in (3, 4, 5))
    assert "throttled" in (report.results[3].reason or "")
    assert report.halted is None
    assert report.batch_item_failures() == {"batchItemFailures": [
        {"itemIdentifier": f"m{n}"} for n in (2, 3, 4, 5)]}


def test_a_refusal_for_the_whole_account_halts_the_consumer() -> None:
    mailer = InMemoryMailer()
    mailer.fail("a1@example.org", MailerError("SES ThrottlingException: Daily message quota "
                                              "exceeded", transient=True, account_level=True))
    service = service_with(mailer)

    report = service.process_batch(records(4))

    assert [r.outcome for r in report.results] == [
        Outcome.SENT, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY]
    assert report.halted is not None and "Daily message quota" in report.halted
    assert len(mailer.sent) == 1


def test_a_batch_near_its_deadline_takes_no_more_records_and_records_what_it_sent() -> None:
    left = iter([60.0, 40.0, 9.0, 9.0, 9.0, 9.0, 9.0])
    mailer = InMemoryMailer()
    repository = InMemoryInviteRepository()
    service = service_with(mailer, repository)

    report = service.process_batch(records(4), time_left=lambda: next(left))

    assert [r.outcome for r in report.results] == [
        Outcome.SENT, Outcome.SENT, Outcome.RETRY, Outcome.RETRY]
    assert "too little time" in (report.results[2].reason or "")
    assert repository.get_statistics(UID).invites_sent == 2
    assert repository.get_attendee(UID, "a2@example.org") is None


def test_a_batch_whose_next_paced_send_would_miss_the_deadline_hands_it_back() -> None:
    time = FakeTime()
    mailer = TimedMailer(time)
    service = service_with(mailer, sleep=time.sleep)
    service.pacer = SendPacer(0.1, clock=time.clock, sleep=time.sleep)  # one send per 10 s
    deadline = time.now + 35.0

    report = service.process_batch(records(5), time_left=lambda: deadline - time.now)

    # At 0, 10 and 20 s a send still leaves the 10 s reserve; the next would start at 30 s.
    assert [r.outcome for r in report.results] == [Outcome.SENT] * 3 + [Outcome.RETRY] * 2
    assert deadline - mailer.at[-1] >= 10.0
