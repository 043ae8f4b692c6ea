"""The soak holds every guarantee under faults and crashes; its checks catch broken adapters."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.domain.claims import claimed_record, decide
from cis.domain.model import Claim, ClaimOutcome, MarkSent, Settlement
from cis.ports.mailer import RawEmail
from cis.ports.queue import OutgoingMessage
from tests.reliability import soak
from tests.reliability.soak import SimulatedClock, SimulatedSqsQueue, SoakConfig, run_soak

N = 2000
SEED = 7

CHECKED_TO_BE_ZERO = (
    "lost",
    "extra emails outside the window",
    "claims taken over from a live consumer",
    "emails to no attendee",
    "records not sent or failed",
    "bad addresses not recorded failed (or emailed)",
    "good addresses recorded failed",
    "sent records whose message id was never settled",
    "events whose statistics != recount",
)


@pytest.mark.parametrize("repository", ["memory", "sqlite"])
def test_soak_under_faults_and_crashes_loses_nothing_and_duplicates_only_in_the_window(
    repository: str,
) -> None:
    result = run_soak(SoakConfig(n=N, repository=repository, seed=SEED))

    assert result.failed_checks == [], result.table()
    assert result.driver_errors == (), result.table()
    assert result["queue drained"] is True, result.table()
    for name in CHECKED_TO_BE_ZERO:
        assert result[name] == 0, f"{name}\n{result.table()}"
    # A crash costs at most one extra email: the one send it caught between the mailer's
    # answer and the write that records it.
    assert result["most accepted sends one crash left unrecorded"] <= 1, result.table()
    window = (result["crashes with an accepted send unrecorded"]
              + result["accepted sends unrecorded as settle kept failing"])
    assert result["extra emails"] <= window, result.table()
    settled = result["invites_sent"] + result["invites_failed"]
    assert settled == result["distinct attendees"], result.table()
    assert result["invites_failed"] == result["bad addresses (rejected every time)"], (
        result.table())
    # The faults really were there: otherwise the checks above prove nothing.
    faults = (
        result["redeliveries"],
        result["duplicate deliveries (two holders at once)"],
        result["injected mailer transient errors"],
        result["crashes after_send"],
    )
    assert all(faults), result.table()
    assert sum(result[f"crashes {point}"] for point in soak.CRASH_POINTS) > 10, result.table()


def test_soak_on_dynamodb_over_http_holds_the_same_guarantees(dynamodb_repository: Any) -> None:
    # Small, with crashes more frequent: moto answers some 20-100 calls a second here.
    config = SoakConfig(n=150, repository="dynamodb", seed=SEED, crash_rate=0.03)
    result = run_soak(config, repository=dynamodb_repository)

    assert result.failed_checks == [], result.table()
    assert result.driver_errors == (), result.table()
    assert result["lost"] == 0, result.table()
    assert result["most accepted sends one crash left unrecorded"] <= 1, result.table()
    assert result["events whose statistics != recount"] == 0, result.table()
    crashes = sum(result[f"crashes {point}"] for point in soak.CRASH_POINTS)
    assert result["redeliveries"] > 0 and crashes > 0, result.table()


def make_queue(**overrides: Any) -> SimulatedSqsQueue:
    config = SoakConfig(**{"duplicate_rate": 0.0, "max_receives": 2, **overrides})
    queue = SimulatedSqsQueue(clock=SimulatedClock(), config=config, rng=random.Random(1))
    queue.enqueue([OutgoingMessage(body="one", deduplication_id="1", group_id="")])
    return queue


def test_simulated_queue_redelivers_what_was_not_deleted_once_its_visibility_ends() -> None:
    queue = make_queue()
    first = queue.receive(0, 10)
    assert first is not None and [r.body for r in first] == ["one"]
    queue.finish(0)
    start = queue.clock()
    second = queue.receive(1, 10)
    assert second is not None and second[0].receipt != first[0].receipt
    assert queue.clock() - start >= dt.timedelta(seconds=30)
    assert queue.acknowledge([second[0].receipt or ""]) == []
    queue.finish(1)
    assert queue.remaining == 0
    assert queue.receive(0, 10) is None


def test_simulated_queue_dead_letters_after_max_receives_and_redrives_when_idle() -> None:
    queue = make_queue(max_receives=2)
    for consumer in range(3):
        assert queue.receive(consumer, 10)
        queue.finish(consumer)
    assert queue.figures.dead_lettered == 1
    assert queue.figures.redriven == 1


def test_simulated_queue_can_hand_one_message_to_two_holders_at_once() -> None:
    queue = make_queue(duplicate_rate=1.0)
    first, second = queue.receive(0, 10), queue.receive(1, 10)
    assert first and second and first[0].message_id == second[0].message_id
    assert queue.figures.duplicate_deliveries == 1


class LyingMailer(InMemoryMailer):
    """Says every 25th message was accepted, and keeps none of them: a silent loss."""

    def __init__(self) -> None:
        super().__init__()
        self._calls = itertools.count(1)

    def send(self, email: RawEmail) -> str:
        number = next(self._calls)
        if number % 25 == 0:
            return f"vanished-{number}"
        return super().send(email)


class CheckThenActRepository(InMemoryInviteRepository):
    """Claims by reading, deciding, then writing: two concurrent claimants can both win."""

    def claim(self, claim: Claim) -> ClaimOutcome:
        existing = self.get_attendee(claim.key.event_uid, claim.key.address)
        outcome = decide(existing, claim)
        time.sleep(0.02)
        if outcome.granted:
            self.records[claim.key] = claimed_record(existing, claim)
            # Holds the claimant back as long as the check took, so that a racing claimant's
            # write lands before this one settles: its settlement then finds the claim taken.
            time.sleep(0.02)
        return outcome

    def settle_then_claim(self, settlements: Any, claim: Claim) -> Any:
        return self.settle(settlements), self.claim(claim)


class DoubleCountingRepository(InMemoryInviteRepository):
    """Adds a sent invitation's counters a second time, outside the settle's atomic step."""

    def settle(self, settlements: Any) -> list[bool]:
        applied = super().settle(settlements)
        sent: list[Settlement] = [s for s, ok in zip(settlements, applied, strict=True) if ok]
        for settlement in sent:
            if isinstance(settlement, MarkSent):
                self.apply_statistics(settlement.key.event_uid, settlement.counters)
        return applied

    def settle_then_claim(self, settlements: Any, claim: Claim) -> Any:
        return self.settle(settlements), self.claim(claim)


def test_soak_reports_the_invites_a_mailer_silently_drops_as_lost() -> None:
    result = run_soak(SoakConfig(n=150, seed=SEED), mailer=LyingMailer())
    assert not result.passed
    assert result["lost"] > 0, result.table()
    assert result["sent records whose message id was never settled"] == 0
    assert "lost" in [row.name for row in result.failed_checks]


def test_soak_reports_duplicates_from_a_claim_that_is_not_atomic() -> None:
    config = SoakConfig(n=100, seed=SEED, batch_size=1, duplicate_rate=0.5, repeat_rate=0.3,
                        crash_rate=0.0, transient_mail_rate=0.0, repository_fault_rate=0.0)
    result = run_soak(config, repository=CheckThenActRepository())
    assert not result.passed
    assert result["extra emails outside the window"] > 0, result.table()
    assert result["claims taken over from a live consumer"] > 0, result.table()
    assert result["accepted sends unrecorded by a crash"] == 0, result.table()


def test_soak_reports_statistics_that_drift_from_the_records() -> None:
    result = run_soak(SoakConfig(n=150, seed=SEED), repository=DoubleCountingRepository())
    assert not result.passed
    assert result["events whose statistics != recount"] > 0, result.table()
    assert result["invites_sent"] > result["distinct attendees"]


def test_command_line_prints_the_table_and_exits_0_when_every_check_holds() -> None:
    lines: list[str] = []
    assert soak.main(["--n", "100", "--seed", str(SEED)], out=lines.append) == 0
    assert "| lost | 0 | ok (== 0) |" in lines[-1]


def test_command_line_exits_1_when_a_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soak, "InMemoryMailer", LyingMailer)
    lines: list[str] = []
    assert soak.main(["--n", "100", "--seed", str(SEED)], out=lines.append) == 1
    assert lines[-1].startswith("FAILED: ") and "lost" in lines[-1]
