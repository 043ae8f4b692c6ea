"""The RSVP flow: read each reply, trust it or not, apply it once, and count it."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cis.domain.rsvp import (
    MAILBOX,
    ReplyOutcome,
    Verdicts,
    check_stamp,
    check_trust,
    decide_reply,
)
from cis.domain.statistics import REPLIES_IGNORED, REPLIES_REJECTED
from cis.errors import (
    CisError,
    InvalidReplyError,
    MessageStoreError,
    NotAReplyError,
    RepositoryError,
)
from cis.messages.reply_envelope import InlineMail, NoMail, StoredMail, read_envelope
from cis.messages.reply_mail import read_reply
from cis.ports.message_store import MessageStore
from cis.ports.queue import QueueRecord
from cis.ports.repository import InviteRepository
from cis.services.invites import utc_now
from cis.services.outcome_log import LOGGER_NAME, log_outcome

APPLY_ATTEMPTS = 5
"""Optimistic retries when other replies for the same attendee land at the same moment."""


@dataclass(frozen=True, slots=True)
class ReplyResult:
    """What became of one reply (or of one queue message, for its worst reply)."""

    message_id: str
    outcome: ReplyOutcome
    reason: str
    event_uid: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyReport:
    """The outcomes of one batch of reply notifications."""

    results: tuple[ReplyResult, ...]

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The SQS partial batch response: only what failed for a passing reason."""
        return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in self.results
                                      if r.outcome is ReplyOutcome.RETRY]}


class RsvpService:
    """Applies Accept/Decline/Tentative replies to attendees and their event's statistics."""

    def __init__(
        self,
        *,
        repository: InviteRepository,
        store: MessageStore | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.repository = repository
        self.store = store
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._clock = clock

    def process_batch(self, records: Sequence[QueueRecord]) -> ReplyReport:
        """Handle each notification on its own; a failure in one never stops the others."""
        results = []
        for record in records:
            try:
                result = self._process_record(record)
            except Exception as exc:
                self._log.exception("unexpected error on reply message %s", record.message_id)
                result = ReplyResult(record.message_id, ReplyOutcome.RETRY,
                                     f"unexpected error: {exc!r}")
            self._log_result(result)
            results.append(result)
        return ReplyReport(tuple(results))

    def apply_mail(
        self,
        raw: bytes,
        *,
        verdicts: Verdicts | None = None,
        message_id: str = "mail",
        received_at: dt.datetime | None = None,
    ) -> ReplyResult:
        """Apply one received message; SES verdicts from a notification win over headers.

        `received_at` is when the mail arrived (the notification says); a reply stamped
        later than that, beyond the clock skew allowed, is rejected. Left out, or later than
        now, the mail is taken to have arrived now.
        """
        marker = _marker(raw)
        try:
            reply, header_verdicts = read_reply(raw)
        except NotAReplyError as exc:
            return self._counted(marker, message_id, ReplyOutcome.IGNORED, str(exc), MAILBOX,
                                 REPLIES_IGNORED)
        except InvalidReplyError as exc:
            return self._counted(marker, message_id, ReplyOutcome.REJECTED, exc.reason, MAILBOX,
                                 REPLIES_REJECTED)
        uid, address = reply.event_uid, reply.attendee
        try:
            record = self.repository.get_attendee(uid, address)
            known = uid if record is not None else MAILBOX
            now = self._clock()
            try:
                check_trust(reply, verdicts or header_verdicts)
                check_stamp(reply, now if received_at is None else min(received_at, now))
            except InvalidReplyError as exc:
                return self._counted(marker, message_id, ReplyOutcome.REJECTED, exc.reason,
                                     known, REPLIES_REJECTED, uid, address)
            for _ in range(APPLY_ATTEMPTS):
                decision = decide_reply(record, reply)
                if decision.outcome is ReplyOutcome.REJECTED:
                    return self._counted(marker, message_id, decision.outcome, decision.reason,
                                         known, REPLIES_REJECTED, uid, address)
                if decision.change is None or self.repository.apply_reply(decision.change):
                    return ReplyResult(message_id, decision.outcome, decision.reason, uid,
                                       address)
                record = self.repository.get_attendee(uid, address)
        except RepositoryError as exc:
            return ReplyResult(message_id, ReplyOutcome.RETRY, f"store: {exc}", uid, address)
        return ReplyResult(message_id, ReplyOutcome.RETRY,
                           "the attendee kept changing under concurrent replies", uid, address)

    def _process_record(self, record: QueueRecord) -> ReplyResult:
        try:
            mails = read_envelope(record.body)
        except InvalidReplyError as exc:
            return self._counted(_marker(record.body.encode("utf-8", "surrogatepass")),
                                 record.message_id, ReplyOutcome.REJECTED, exc.reason, MAILBOX,
                                 REPLIES_REJECTED)
        results = [self._process_mail(record.message_id, mail) for mail in mails]
        retry = [r for r in results if r.outcome is ReplyOutcome.RETRY]
        if retry:
            return retry[0]
        return results[0] if results else ReplyResult(record.message_id, ReplyOutcome.IGNORED,
                                                      "no records")

    def _process_mail(self, message_id: str, mail: StoredMail | InlineMail | NoMail) -> ReplyResult:
        if isinstance(mail, NoMail):
            return ReplyResult(message_id, ReplyOutcome.IGNORED, mail.reason)
        if isinstance(mail, InlineMail):
            return self.apply_mail(mail.raw, verdicts=mail.verdicts, message_id=message_id,
                                   received_at=mail.received_at)
        if self.store is None:
            return ReplyResult(message_id, ReplyOutcome.RETRY, "no message store configured")
        try:
            raw = self.store.fetch(mail.bucket, mail.key)
        except MessageStoreError as exc:
            if exc.transient:
                return ReplyResult(message_id, ReplyOutcome.RETRY, f"fetch: {exc}")
            location = f"s3://{mail.bucket}/{mail.key}".encode("utf-8", "surrogatepass")
            return self._counted(_marker(location), message_id, ReplyOutcome.REJECTED,
                                 f"fetch: {exc}", MAILBOX, REPLIES_REJECTED)
        return self.apply_mail(raw, verdicts=mail.verdicts, message_id=message_id,
                               received_at=mail.received_at)

    def _counted(
        self,
        marker: str,
        message_id: str,
        outcome: ReplyOutcome,
        reason: str,
        counted_under: str,
        counter: str,
        event_uid: str | None = None,
        address: str | None = None,
    ) -> ReplyResult:
        """Count a reply that changes no attendee, once per message; retry if counting fails.

        The marker is the message's own digest, so a notification the queue delivers again,
        or S3 announces twice, is not counted twice.
        """
        try:
            self.repository.apply_statistics_once(marker, counted_under, {counter: 1})
        except CisError as exc:
            return ReplyResult(message_id, ReplyOutcome.RETRY, f"not counted: {exc}",
                               event_uid, address)
        return ReplyResult(message_id, outcome, reason, event_uid, address)

    def _log_result(self, result: ReplyResult) -> None:
        level = logging.WARNING if result.outcome is ReplyOutcome.REJECTED else logging.INFO
        log_outcome(self._log, flow="reply", outcome=result.outcome.value,
                    message_id=result.message_id, event_uid=result.event_uid,
                    address=result.address, reason=result.reason, level=level)


def _marker(content: bytes) -> str:
    """A message's identity for counting: the SHA-256 of its bytes."""
    return hashlib.sha256(content).hexdigest()
