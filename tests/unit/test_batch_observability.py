"""What a batch tells operators: one structured record per outcome, and what pushed back."""

from __future__ import annotations

import json
import logging

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.domain.model import InviteState
from cis.errors import MailerError, RepositoryError
from cis.services.invites import REPOSITORY_ATTEMPTS, Outcome
from cis.services.outcome_log import MAX_FIELD_CHARS, log_outcome, mask_addresses
from cis.services.reports import SentAs
from tests.support import body, sample_event
from tests.unit.test_invite_service import UID, FlakyRepository, make_service, records

SES_REJECTION = ("SES MessageRejected: Email address is not verified. The following identities "
                 "failed the check in region EU-WEST-1: carol@example.org, Invites "
                 "<invites@example.com>")


class ConflictingRepository(FlakyRepository):
    """Loses the claim to a concurrent transaction a given number of times."""

    def _maybe_fail(self, operation: str) -> None:
        if self.failures.get(operation, 0) > 0:
            self.failures[operation] -= 1
            raise RepositoryError(f"DynamoDB {operation} transaction cancelled: "
                                  "TransactionConflict", transient=True, conflict=True)


def outcome_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "outcome", None) is not None]


# --- the outcome records ------------------------------------------------------------------------


def test_each_outcome_is_one_record_whose_fields_are_attributes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    service = make_service()
    service.process_batch(records(body("ann.lee@example.org"), body("ann.lee@example.org"),
                                  '{"request": 1}'))

    sent, duplicate, rejected = outcome_records(caplog)
    assert (sent.flow, sent.outcome, sent.message_id, sent.event_uid, sent.attendee,  # type: ignore[attr-defined]
            sent.sent_as) == ("invite", "sent", "m1", UID, "a***@example.org", "invitation")  # type: ignore[attr-defined]
    assert sent.delivery_id  # type: ignore[attr-defined]
    assert sent.levelno == logging.INFO
    assert (duplicate.outcome, duplicate.reason) == (  # type: ignore[attr-defined]
        "duplicate", "same attendee earlier in this batch")
    assert rejected.outcome == "rejected" and rejected.levelno == logging.WARNING  # type: ignore[attr-defined]
    assert not hasattr(rejected, "attendee")  # unknown fields are left out, not null


def test_the_message_reads_alone_for_a_plain_formatter(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    service = make_service()
    service.process_batch(records(body("ann.lee@example.org")))
    [record] = outcome_records(caplog)
    message = record.getMessage()
    assert message.startswith(f"invite sent: message_id=m1 event_uid={UID} "
                              "attendee=a***@example.org sent_as=invitation delivery_id=")
    assert "ann.lee" not in message


def test_the_record_is_a_json_object_of_its_fields_as_lambdas_formatter_writes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Lambda's JSON formatter writes every attribute the record has beyond logging's own.
    caplog.set_level(logging.INFO, logger="cis")
    make_service().process_batch(records(body("ann.lee@example.org")))
    [record] = outcome_records(caplog)
    standard = {*logging.LogRecord("x", 0, "", 0, "", (), None).__dict__, "message", "asctime"}
    fields = {k: v for k, v in record.__dict__.items() if k not in standard}
    assert set(fields) == {"flow", "outcome", "message_id", "event_uid", "attendee", "sent_as",
                           "delivery_id"}
    assert json.loads(json.dumps(fields)) == fields


def test_a_reason_is_masked_bounded_and_kept_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    logger = logging.getLogger("cis")
    log_outcome(logger, outcome="failed", message_id="m1", event_uid="e1",
                address="carol@example.org",
                reason="refused <carol@example.org>\nforged line " + "x" * 5000)
    [record] = outcome_records(caplog)
    reason: str = record.reason  # type: ignore[attr-defined]
    assert reason.startswith("refused <c***@example.org>\nforged line ")
    assert len(reason) < MAX_FIELD_CHARS + 50 and reason.endswith("more characters)")
    assert "\n" not in record.getMessage()
    assert "carol@" not in record.getMessage()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ann@example.org", "a***@example.org"),
        ("Invites <invites@example.com>, ann.lee+x@Example.org;", "Invites <i***@example.com>, "
         "a***@Example.org;"),
        ('"bob@x.org" (carol@y.net) [d@e]', '"b***@x.org" (c***@y.net) [d***@e]'),
        ("no address @ all", "no address @ all"),
        ("a***@example.org", "a***@example.org"),
    ],
)
def test_addresses_in_free_text_are_masked(text: str, masked: str) -> None:
    assert mask_addresses(text) == masked


def test_masking_takes_linear_time_on_hostile_text() -> None:
    import time

    started = time.perf_counter()
    for text in ("a" * 200_000, "a@" * 100_000, ("a" * 1000 + " ") * 200):
        mask_addresses(text)
    assert time.perf_counter() - started < 2.0


# --- what a sent message was --------------------------------------------------------------------


def test_a_sent_result_says_what_the_message_was() -> None:
    service = make_service()
    first = service.process_batch(records(body("ann@example.org")))
    update = service.process_batch(records(body("ann@example.org", sequence=1)))
    cancel = service.process_batch(records(body("ann@example.org", sequence=2,
                                                status="CANCELLED")))
    assert [r.results[0].sent_as for r in (first, update, cancel)] == [
        SentAs.INVITATION, SentAs.UPDATE, SentAs.CANCELLATION]
    assert service.process_batch(records(body("ann@example.org", sequence=2))
                                 ).results[0].sent_as is None  # a duplicate sent nothing


# --- SES's words, masked ------------------------------------------------------------------------


def test_a_mailer_error_is_masked_in_the_reason_the_record_and_the_halt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cis")
    mailer = InMemoryMailer()
    mailer.fail("bob@example.org", MailerError("SES MessageRejected: Address blacklisted: "
                                                "bob@example.org", transient=False))
    mailer.fail("carol@example.org", MailerError(SES_REJECTION, transient=True,
                                                 account_level=True))
    repository = InMemoryInviteRepository()
    service = make_service(repository, mailer)

    report = service.process_batch(records(body("bob@example.org"), body("carol@example.org")))

    failed, halted = report.results
    assert failed.outcome is Outcome.FAILED
    assert failed.reason == "mailer: SES MessageRejected: Address blacklisted: b***@example.org"
    stored = repository.get_attendee(UID, "bob@example.org")
    assert stored is not None and stored.state is InviteState.FAILED
    assert "bob@" not in (stored.failure_reason or "")
    assert halted.outcome is Outcome.RETRY
    assert report.halted is not None and "c***@example.org" in report.halted
    assert "i***@example.com" in report.halted
    for address in ("bob@", "carol@", "invites@"):
        assert address not in caplog.text
        assert address not in (report.halted or "")


# --- what pushed back ---------------------------------------------------------------------------


def test_store_conflicts_retried_in_the_batch_are_counted() -> None:
    repository = ConflictingRepository()
    repository.failures["claim"] = 2
    service = make_service(repository)
    report = service.process_batch(records(body("ann@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.SENT]
    assert report.conflicts == 2
    assert service.process_batch(records(body("bob@example.org"))).conflicts == 0


def test_a_conflict_that_outlasts_the_retries_is_counted_each_time() -> None:
    repository = ConflictingRepository()
    repository.failures["claim"] = REPOSITORY_ATTEMPTS
    report = make_service(repository).process_batch(records(body("ann@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.RETRY]
    assert report.conflicts == REPOSITORY_ATTEMPTS


def test_other_store_pushback_is_no_conflict() -> None:
    repository = FlakyRepository()
    repository.failures["claim"] = 2
    report = make_service(repository).process_batch(records(body("ann@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.SENT]
    assert report.conflicts == 0


def test_a_throttled_send_is_counted() -> None:
    mailer = InMemoryMailer()
    mailer.fail("bob@example.org", MailerError("SES TooManyRequestsException: Maximum sending "
                                                "rate exceeded.", transient=True, throttled=True))
    service = make_service(mailer=mailer)
    report = service.process_batch(records(body("ann@example.org"), body("bob@example.org"),
                                           body("carol@example.org")))
    assert [r.outcome for r in report.results] == [Outcome.SENT, Outcome.RETRY, Outcome.RETRY]
    assert (report.throttled, report.conflicts, report.halted) == (1, 0, None)


def test_a_fan_out_sent_here_counts_what_pushed_back_in_its_pages() -> None:
    mailer = InMemoryMailer()
    service = make_service(mailer=mailer)
    service.process_batch(records(*(body(f"guest{n}@example.org") for n in range(3))))
    mailer.fail("guest1@example.org", MailerError("throttled", transient=True, throttled=True))
    report = service.fan_out(sample_event(sequence=1))
    assert report.throttled == 1
