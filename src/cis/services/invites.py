"""The invite flow: parse, claim, render, send, settle, count; one batch at a time.

Each record is processed on its own: one failure never stops the others. What failed for a
passing reason is marked RETRY (the queue redelivers it); what can never succeed is
REJECTED or FAILED with its reason, counted, and acknowledged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import TypeVar

from cis.domain import statistics
from cis.domain.claims import DEFAULT_LEASE
from cis.domain.model import (
    AttendeeKey,
    Claim,
    ClaimOutcome,
    Counters,
    Event,
    HistoryEntry,
    InviteRequest,
    MarkFailed,
    MarkSent,
    Release,
    Settlement,
)
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import InvalidRequestError, MailerError, RepositoryError
from cis.messages.invite_format import parse_body
from cis.ports.mailer import Mailer, RawEmail
from cis.ports.queue import InviteQueue, QueueRecord
from cis.ports.repository import InviteRepository
from cis.services.outcome_log import LOGGER_NAME, log_outcome

_T = TypeVar("_T")

HISTORY_SOURCE = "cis:invite"
REPOSITORY_ATTEMPTS = 3
TEMPLATE_CACHE_SIZE = 32
"""How many events' rendered invitations a service keeps, most recently used first."""


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def random_id() -> str:
    """The default source of claim tokens and message ids."""
    return uuid.uuid4().hex


class Outcome(StrEnum):
    """What became of one queue record."""

    SENT = "sent"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILED = "failed"
    RETRY = "retry"

    @property
    def acknowledged(self) -> bool:
        """True when the queue may forget the record: retrying it could change nothing."""
        return self is not Outcome.RETRY


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome of one record, with the reason for anything but SENT."""

    message_id: str
    receipt: str | None
    outcome: Outcome
    event_uid: str | None = None
    address: str | None = None
    reason: str | None = None
    delivery_id: str | None = None

    @property
    def mail_message_id(self) -> str | None:
        """The former name of `delivery_id`, still read by callers written for it."""
        return self.delivery_id


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The outcomes of one batch, in the order the records came."""

    results: tuple[RecordResult, ...]

    @property
    def retry_message_ids(self) -> list[str]:
        """The records the queue must deliver again (SQS `batchItemFailures`)."""
        return [r.message_id for r in self.results if not r.outcome.acknowledged]

    @property
    def acknowledged_receipts(self) -> list[str]:
        """Receipts of the records the queue may forget."""
        return [r.receipt for r in self.results if r.outcome.acknowledged and r.receipt]

    def count(self, outcome: Outcome) -> int:
        """How many records ended with `outcome`."""
        return sum(1 for r in self.results if r.outcome is outcome)

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response that the SQS event source understands."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.retry_message_ids]}


@dataclass(slots=True)
class _Attempt:
    """What one record has done so far, so the batch boundary can undo a claim on a crash."""

    record: QueueRecord
    request: InviteRequest | None = None
    claim: Claim | None = None
    settlement: Settlement | None = None
    result_if_settled: RecordResult | None = None
    repeat_of: int | None = None
    recorded: bool = False


@dataclass(slots=True)
class _Batch:
    attempts: list[_Attempt]
    results: list[RecordResult | None]
    first_for_key: dict[AttendeeKey, int] = field(default_factory=dict)
    # Every attempt before this index is recorded or has nothing to record; a batch may hold
    # up to 10,000 records, so the search for unrecorded ones starts here, not at 0.
    recorded_upto: int = 0
    counters: dict[str, list[tuple[int, Counters]]] = field(
        default_factory=lambda: defaultdict(list)
    )


class InviteService:
    """Sends each attendee of each event exactly one invitation and keeps the score."""

    def __init__(
        self,
        *,
        repository: InviteRepository,
        mailer: Mailer,
        sender: str,
        rsvp_email: str,
        claim_lease: dt.timedelta = DEFAULT_LEASE,
        clock: Callable[[], dt.datetime] = utc_now,
        new_id: Callable[[], str] = random_id,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self.repository = repository
        self.mailer = mailer
        self.sender = sender
        self.rsvp_email = rsvp_email
        self.claim_lease = claim_lease
        self._clock = clock
        self._new_id = new_id
        self._sleep = sleep
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._templates: OrderedDict[tuple[object, ...], InvitationTemplate] = OrderedDict()
        self._templates_lock = threading.Lock()

    def process_batch(self, records: Sequence[QueueRecord]) -> BatchReport:
        """Process every record independently; the report says which ones to retry."""
        return self._run([_Attempt(record) for record in records])

    def send_invites(self, requests: Iterable[InviteRequest]) -> BatchReport:
        """Invite already-parsed requests, for library callers that have no queue."""
        return self._run([
            _Attempt(QueueRecord(message_id=f"request-{number}", body=""), request=request)
            for number, request in enumerate(requests)
        ])

    def _run(self, attempts: list[_Attempt]) -> BatchReport:
        batch = _Batch(attempts=attempts, results=[None] * len(attempts))
        for index, attempt in enumerate(batch.attempts):
            batch.results[index] = self._process_guarded(index, attempt, batch)
        self._settle(batch)
        self._resolve_repeats(batch)
        self._count(batch)
        results = tuple(r for r in batch.results if r is not None)
        for result in results:
            self._log_result(result)
        return BatchReport(results)

    def _process_guarded(self, index: int, attempt: _Attempt, batch: _Batch) -> RecordResult | None:
        """The one place that turns any unexpected error into a retry, releasing the claim."""
        try:
            return self._process(index, attempt, batch)
        except Exception as exc:
            self._log.exception("unexpected error processing message %s", attempt.record.message_id)
            if attempt.claim is not None and attempt.settlement is None:
                attempt.settlement = Release(attempt.claim.key, attempt.claim.token)
            return self._result(attempt, Outcome.RETRY, f"unexpected error: {exc!r}")

    def _process(self, index: int, attempt: _Attempt, batch: _Batch) -> RecordResult | None:
        try:
            request = attempt.request or parse_body(attempt.record.body)
        except InvalidRequestError as exc:
            if exc.event_uid:
                batch.counters[exc.event_uid].append((index, statistics.on_rejected()))
            return self._result(attempt, Outcome.REJECTED, str(exc), event_uid=exc.event_uid)
        attempt.request = request
        event, invitee = request.event, request.invitee

        key = AttendeeKey.of(event.uid, invitee.email)
        if key in batch.first_for_key:
            attempt.repeat_of = batch.first_for_key[key]
            return None
        batch.first_for_key[key] = index

        try:
            template = self._template(event)
        except ValueError as exc:
            # Only a library caller's own Event gets here (the parser refuses these first);
            # retrying could never render it.
            batch.counters[event.uid].append((index, statistics.on_rejected()))
            return self._result(attempt, Outcome.REJECTED, f"cannot render the event: {exc}")

        now = self._clock()
        claim = Claim(
            key=key,
            invitee=invitee,
            token=self._new_id(),
            now=now,
            lease_expires_at=now + self.claim_lease,
        )
        try:
            granted = self._record_then_claim(batch, index, claim)
        except RepositoryError as exc:
            return self._result(attempt, Outcome.RETRY, f"claim failed: {exc}")
        if granted in (ClaimOutcome.ALREADY_SENT, ClaimOutcome.ALREADY_FAILED):
            batch.counters[event.uid].append((index, statistics.on_duplicate()))
            return self._result(attempt, Outcome.DUPLICATE, f"invitation {granted.value}")
        if granted is ClaimOutcome.IN_PROGRESS:
            return self._result(attempt, Outcome.RETRY, "another consumer holds the claim")
        attempt.claim = claim

        invitation = template.render(invitee, now=now, email_id=self._new_id())
        try:
            delivery_id = self.mailer.send(RawEmail(
                sender=invitation.envelope_sender,
                recipient=invitation.recipient,
                data=invitation.data,
                event_uid=event.uid,
            ))
        except MailerError as exc:
            if exc.account_level:
                self._log.error("mailer refuses every invite, check the account: %s", exc)
            if exc.transient:
                attempt.settlement = Release(claim.key, claim.token)
                return self._result(attempt, Outcome.RETRY, f"mailer: {exc}")
            attempt.settlement = MarkFailed(
                claim.key, claim.token, reason=str(exc), at=now, counters=statistics.on_failed()
            )
            attempt.result_if_settled = self._result(attempt, Outcome.FAILED, f"mailer: {exc}")
            return None
        attempt.settlement = MarkSent(
            claim.key,
            claim.token,
            delivery_id=delivery_id,
            at=now,
            history=HistoryEntry(status=invitee.partstat, at=now, source=HISTORY_SOURCE),
            counters=statistics.on_sent(invitee.partstat, invitee.origin),
        )
        attempt.result_if_settled = self._result(
            attempt, Outcome.SENT, None, delivery_id=delivery_id
        )
        return None

    def _template(self, event: Event) -> InvitationTemplate:
        """The event's invitation template, built once while it stays among the recent ones.

        The key holds the start and end as written as well as the event: datetimes compare
        equal across zones (10:00 in Berlin is 09:00 UTC) but render differently.
        """
        key = (event, repr(event.start), repr(event.end), self.sender, self.rsvp_email)
        with self._templates_lock:
            template = self._templates.pop(key, None)
        if template is None:
            template = InvitationTemplate(event, sender=self.sender, rsvp_email=self.rsvp_email)
        with self._templates_lock:
            self._templates[key] = template  # last is most recently used
            while len(self._templates) > TEMPLATE_CACHE_SIZE:
                self._templates.popitem(last=False)
        return template

    def _record_then_claim(self, batch: _Batch, index: int, claim: Claim) -> ClaimOutcome:
        """Claim the next attendee in the same write that records what was settled so far.

        Every send is thus recorded before the next one starts: a crash leaves at most one
        accepted send unrecorded, and a batch still costs one write per invite. If the write
        fails, the earlier settlements stay pending for the next claim or the batch's end.
        """
        pending = self._unrecorded(batch, upto=index)
        if not pending:
            batch.recorded_upto = index
            return self.repository.claim(claim)
        settlements = [attempt.settlement for _, attempt in pending if attempt.settlement]
        applied, granted = self.repository.settle_then_claim(settlements, claim)
        self._recorded(batch, pending, applied)
        batch.recorded_upto = index
        return granted

    def _settle(self, batch: _Batch) -> None:
        """Record what no claim carried yet, in one call; unrecorded sends are retried."""
        pending = self._unrecorded(batch, upto=len(batch.attempts))
        if not pending:
            return
        settlements = [a.settlement for _, a in pending if a.settlement is not None]
        try:
            applied = self._with_retries(lambda: self.repository.settle(settlements))
        except RepositoryError as exc:
            for index, attempt in pending:
                if attempt.result_if_settled is not None:
                    batch.results[index] = self._result(
                        attempt, Outcome.RETRY, f"handled but not recorded: {exc}"
                    )
            return
        self._recorded(batch, pending, applied)

    @staticmethod
    def _unrecorded(batch: _Batch, *, upto: int) -> list[tuple[int, _Attempt]]:
        return [
            (index, batch.attempts[index])
            for index in range(batch.recorded_upto, upto)
            if batch.attempts[index].settlement is not None and not batch.attempts[index].recorded
        ]

    def _recorded(
        self, batch: _Batch, pending: list[tuple[int, _Attempt]], applied: list[bool]
    ) -> None:
        for (index, attempt), was_applied in zip(pending, applied, strict=True):
            attempt.recorded = True
            if attempt.result_if_settled is None:
                continue
            if not was_applied:
                self._log.warning(
                    "claim for message %s was taken over before it was recorded; "
                    "the attendee may receive a second invitation", attempt.record.message_id,
                )
            batch.results[index] = attempt.result_if_settled

    def _resolve_repeats(self, batch: _Batch) -> None:
        """Give a repeat of an attendee seen earlier in the batch the earlier record's fate.

        The repeat is a duplicate once the first is settled; if the first is to be retried, so
        is the repeat, so that neither can be lost.
        """
        for index, attempt in enumerate(batch.attempts):
            if attempt.repeat_of is None or batch.results[index] is not None:
                continue
            first = batch.results[attempt.repeat_of]
            if first is None or first.outcome is Outcome.RETRY:
                batch.results[index] = self._result(
                    attempt, Outcome.RETRY, "the same attendee earlier in this batch is retried"
                )
                continue
            event_uid = attempt.request.event.uid if attempt.request else ""
            batch.counters[event_uid].append((index, statistics.on_duplicate()))
            batch.results[index] = self._result(
                attempt, Outcome.DUPLICATE, "same attendee earlier in this batch"
            )

    def _count(self, batch: _Batch) -> None:
        """Add each event's rejected and duplicate counts in one write per event."""
        for event_uid, contributions in batch.counters.items():
            counters = statistics.merge(*(c for _, c in contributions))
            try:
                self._with_retries(partial(self.repository.apply_statistics, event_uid, counters))
            except RepositoryError as exc:
                for index, _ in contributions:
                    result = batch.results[index]
                    if result is not None:
                        batch.results[index] = replace(
                            result, outcome=Outcome.RETRY, reason=f"not counted: {exc}"
                        )

    def _with_retries(self, action: Callable[[], _T]) -> _T:
        delay = 0.05
        for attempt in range(REPOSITORY_ATTEMPTS):
            try:
                return action()
            except RepositoryError as exc:
                if not exc.transient or attempt == REPOSITORY_ATTEMPTS - 1:
                    raise
                self._sleep(delay)
                delay *= 4
        raise AssertionError("unreachable")

    def _result(
        self,
        attempt: _Attempt,
        outcome: Outcome,
        reason: str | None,
        *,
        event_uid: str | None = None,
        delivery_id: str | None = None,
    ) -> RecordResult:
        request = attempt.request
        return RecordResult(
            message_id=attempt.record.message_id,
            receipt=attempt.record.receipt,
            outcome=outcome,
            event_uid=request.event.uid if request else event_uid,
            address=request.invitee.email if request else None,
            reason=reason,
            delivery_id=delivery_id,
        )

    def _log_result(self, result: RecordResult) -> None:
        level = logging.WARNING if result.outcome in (Outcome.REJECTED, Outcome.FAILED) else (
            logging.INFO
        )
        log_outcome(
            self._log, outcome=result.outcome.value, message_id=result.message_id,
            event_uid=result.event_uid, address=result.address, reason=result.reason,
            level=level,
        )


def acknowledge_processed(queue: InviteQueue, report: BatchReport) -> list[str]:
    """Delete what needs no retry, for consumers that delete messages themselves.

    Returns the receipts the queue failed to delete; those messages come back and are then
    found to be duplicates, so nothing is sent twice.
    """
    receipts = report.acknowledged_receipts
    return queue.acknowledge(receipts) if receipts else []
