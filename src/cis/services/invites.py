"""The invite flow: parse, claim, render, send, settle, count; one batch at a time.

Each record is processed on its own: one failure never stops the others. What failed for a
passing reason is marked RETRY (the queue redelivers it); what can never succeed is
REJECTED or FAILED with its reason, counted, and acknowledged. What each record came to is
kept in a `BatchLedger`, claimed through `ClaimSteps` and written through `BatchWrites`; this
module only decides.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from cis.domain import statistics
from cis.domain.claims import DEFAULT_LEASE
from cis.domain.model import (
    AttendeeKey,
    Event,
    FanOut,
    InviteAction,
    InviteRequest,
    MarkFailed,
    QueueMessage,
    Resend,
    Standing,
)
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import (
    InvalidRequestError,
    MailerError,
    RepositoryError,
    UnknownVersionError,
)
from cis.messages.invite_format import parse_message
from cis.messages.invite_rules import address_problem
from cis.ports.mailer import Mailer, RawEmail
from cis.ports.queue import InviteQueue, QueueRecord
from cis.ports.repository import InviteRepository
from cis.services.batch_ledger import BatchLedger, Entry
from cis.services.batch_writes import REPOSITORY_ATTEMPTS, BatchWrites
from cis.services.claim_steps import ClaimSteps
from cis.services.event_versions import EventVersions
from cis.services.lifecycle_steps import LifecycleSteps, TimeLeft
from cis.services.outcome_log import LOGGER_NAME, log_outcome, mask_addresses
from cis.services.pacing import SendPacer
from cis.services.pushback import Pushback
from cis.services.reports import BatchReport, Outcome, RecordResult
from cis.services.retrying import Backoff
from cis.services.settlements import (
    HISTORY_SOURCE,
    Claimed,
    first_invitation,
    sent_settlement,
)
from cis.services.template_cache import TemplateCache

__all__ = [
    "DEADLINE_RESERVE", "HISTORY_SOURCE", "REPOSITORY_ATTEMPTS", "BatchReport", "InviteService",
    "Outcome", "RecordResult", "StopRequested", "TimeLeft", "acknowledge_processed", "random_id",
    "utc_now",
]

DEADLINE_RESERVE = 10.0
"""Seconds before the deadline at which a batch takes no more records: what it sent is then
recorded, and the rest handed back untouched, before the invocation is stopped."""

StopRequested = Callable[[], str | None]
"""Why the consumer was asked to stop (a signal to the `cis` command), or None to go on."""


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


def random_id() -> str:
    """The default source of claim tokens and email ids."""
    return uuid.uuid4().hex


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
        pacer: SendPacer | None = None,
        backoff: Backoff | None = None,
        deadline_reserve: float = DEADLINE_RESERVE,
        relay: InviteQueue | None = None,
        stop_requested: StopRequested | None = None,
    ) -> None:
        """Build it through `cis.bootstrap`, which chooses the adapters for each entry point.

        `relay` is the queue a fan-out puts its per-attendee messages on (the consumer's own
        queue); without one, a fan-out sends them itself, a page at a time. `stop_requested`
        is asked before each record: once it gives a reason, the batch finishes the record
        in hand, records what it sent and hands the rest back untouched, with that reason.
        """
        self.repository = repository
        self.mailer = mailer
        self.sender = sender
        self.rsvp_email = rsvp_email
        self.claim_lease = claim_lease
        self.pacer = pacer
        self._new_id = new_id
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._templates = TemplateCache()
        self._versions = EventVersions(repository)
        self._deadline_reserve = deadline_reserve
        self._relay = relay
        self._stop_requested = stop_requested
        #: What pushed back so far (throttled sends, store conflicts, newer formats); each
        #: batch reports what it grew by. A service runs one batch at a time.
        self._pushback = Pushback()
        self._writes = BatchWrites(
            repository=repository, versions=self._versions, pushback=self._pushback,
            sleep=sleep, backoff=backoff or Backoff(), deadline_reserve=deadline_reserve,
            logger=self._log)
        self._claims = ClaimSteps(repository=repository, writes=self._writes, clock=clock,
                                  new_id=new_id, claim_lease=claim_lease)
        self._steps = LifecycleSteps(
            repository=repository, versions=self._versions, relay=relay,
            attempt=self._writes.with_retries, new_id=new_id, run_batch=self._run,
            may_start=lambda time_left: self._why_not_start(time_left) is None)

    def process_batch(
        self, records: Sequence[QueueRecord], *, time_left: TimeLeft | None = None
    ) -> BatchReport:
        """Process every record independently; the report says which ones to retry.

        With `time_left`, the batch takes no more records once fewer than `deadline_reserve`
        seconds remain, so that what it sent is recorded before the consumer is stopped.
        """
        return self._run(BatchLedger(records), time_left)

    def send_invites(
        self, requests: Iterable[InviteRequest], *, time_left: TimeLeft | None = None
    ) -> BatchReport:
        """Invite already-parsed requests, for library callers that have no queue."""
        return self._run(BatchLedger.of_requests(requests), time_left)

    def process_messages(
        self, messages: Iterable[QueueMessage], *, time_left: TimeLeft | None = None
    ) -> BatchReport:
        """Process already-parsed messages of any kind, as if they came off the queue.

        A resend given here is a new request each time (it has no queue id to be known by);
        a fan-out is expanded onto the relay queue, or sent here without one.
        """
        return self._run(BatchLedger.of_requests(messages), time_left)

    def fan_out(self, event: Event, *, time_left: TimeLeft | None = None) -> BatchReport:
        """Bring every attendee already sent something to `event`'s version, sending here.

        The expansion a queue's consumer runs for a fan-out body, for callers without a queue
        (the `cis` command, scripts): each page's messages are sent as a batch. The report
        holds one result per attendee message, then the fan-out's own: EXPANDED, STALE (a
        newer version was recorded), DUPLICATE (done before) or RETRY (run it again to go on
        from where it stopped).
        """
        sent: list[RecordResult] = []
        batch = BatchLedger([QueueRecord(message_id="fan-out", body="")])
        entry = batch.entries[0]
        batch.parsed(entry, FanOut(event))
        own = self._run(batch, time_left, sent=sent)
        return replace(own, results=(*sent, *own.results))

    def _run(
        self, batch: BatchLedger, time_left: TimeLeft | None,
        sent: list[RecordResult] | None = None,
    ) -> BatchReport:
        before = self._pushback.copy()
        for entry in batch.entries:
            reason = batch.stopped or self._why_not_start(time_left)
            if reason:
                batch.handed_back(entry, reason)
                continue
            self._handle_guarded(batch, entry, time_left, sent)
        self._writes.write_the_rest(batch, time_left)
        self._writes.catch_up(batch)
        batch.resolve_repeats()
        self._writes.count(batch)
        report = self._pushback.on(batch.report(), since=before)
        for result in report.results:
            self._log_result(result)
        if report.halted:
            self._log.error("stopped taking invites, the mailer refuses them all: %s",
                            report.halted, extra={"halted": report.halted})
        return report

    def _why_not_start(self, time_left: TimeLeft | None) -> str | None:
        """Why no record may start now: a stop was asked for, or too little time is left."""
        if self._stop_requested is not None and (reason := self._stop_requested()):
            return reason
        if time_left is None:
            return None
        pacing = self.pacer.delay() if self.pacer else 0.0
        if time_left() - pacing < self._deadline_reserve:
            return "not started: too little time left in this invocation"
        return None

    def _handle_guarded(
        self, batch: BatchLedger, entry: Entry, time_left: TimeLeft | None,
        sent: list[RecordResult] | None,
    ) -> None:
        """The one place that turns any unexpected error into a retry, releasing the claim."""
        try:
            self._handle(batch, entry, time_left, sent)
        except Exception as exc:
            self._log.exception("unexpected error processing message %s", entry.record.message_id)
            batch.crashed(entry, f"unexpected error: {exc!r}")

    def _handle(
        self, batch: BatchLedger, entry: Entry, time_left: TimeLeft | None,
        sent: list[RecordResult] | None,
    ) -> None:
        """One record's way, by what its body asks: a fan-out, a resend, or one request."""
        message = self._message(batch, entry)
        if isinstance(message, FanOut):
            self._steps.fan_out(batch, entry, message, time_left, sent)
            return
        request = (self._steps.resend(batch, entry, message) if isinstance(message, Resend)
                   else message)
        if request is not None:
            self._invite(batch, entry, request)

    def _invite(self, batch: BatchLedger, entry: Entry, request: InviteRequest) -> None:
        """One request's way: a valid address, the first of its kind, current, claimed, sent."""
        problem = address_problem(request.invitee.email)
        if problem is not None:
            # Only a library caller's own Invitee gets here (the parser refuses these first);
            # no retry could ever send it, and rendering it would write a defective header.
            batch.reject(entry, f"request.email: not a valid email address: {problem}",
                         event_uid=request.event.uid)
            return
        key = AttendeeKey.of(request.event.uid, request.invitee.email)
        if not batch.first_of_its_attendee(entry, (key, request.event.sequence, request.action)):
            return  # decided with the first one, once the batch is written
        try:
            stored = self._writes.with_retries(lambda: self._versions.stored(request.event))
        except RepositoryError as exc:
            batch.retry(entry, f"event version not recorded: {exc}")
            return
        if stored.sequence > request.event.sequence:
            if not _plain_invitation(request):
                batch.stale(entry, _superseded(stored.sequence, request))
                return
            # An invitation to an older version invites an attendee sent nothing yet to the
            # current one; for anyone else it is stale (see `ClaimSteps`).
            entry.older_version = request.event.sequence
            request = replace(request, event=stored.event)
            batch.parsed(entry, request)
        template = self._template(batch, entry, request)
        if template is None:
            return
        if first_invitation(request):
            claimed = self._claims.claim(batch, entry, key, request)
        else:
            claimed = self._claims.versioned_claim(batch, entry, key, request, stored)
        if claimed is None:
            return
        if claimed.first and request.event.sequence > 0:
            # A later version is this attendee's first message: it reads as an invitation.
            template = self._templates.get(request.event, sender=self.sender,
                                           rsvp_email=self.rsvp_email,
                                           standing=request.standing, first=True)
        self._send(batch, entry, request, template, claimed)

    def _message(self, batch: BatchLedger, entry: Entry) -> QueueMessage | None:
        """What the record's body asks for, or None when it can never ask anything (rejected)."""
        if entry.request is not None:
            return entry.request
        if entry.message is not None:
            return entry.message
        try:
            message = parse_message(entry.record.body)
        except InvalidRequestError as exc:
            batch.reject(entry, str(exc), event_uid=exc.event_uid)
            return None
        except UnknownVersionError as exc:
            self._newer_format(batch, entry, exc)
            return None
        batch.parsed(entry, message)
        return message

    def _newer_format(self, batch: BatchLedger, entry: Entry, exc: UnknownVersionError) -> None:
        """Hand back a body of a later message format: a consumer that reads it will come.

        Deleting it would lose the request of a producer upgraded before this consumer; the
        queue delivers it again until its maxReceiveCount, then keeps it in the dead-letter
        queue, from where it is redriven once a consumer that reads it runs.
        """
        self._pushback.unknown_versions += 1
        self._log.warning(
            "message %s is in message format version %r, newer than this consumer reads; "
            "handed back, not deleted: upgrade the consumer, then redrive the dead-letter "
            "queue", entry.record.message_id, exc.version,
            extra={"message_id": entry.record.message_id, "event_uid": exc.event_uid,
                   "format_version": repr(exc.version)})
        batch.retry(entry, str(exc))

    def _template(
        self, batch: BatchLedger, entry: Entry, request: InviteRequest
    ) -> InvitationTemplate | None:
        """The template of the message the request sends, or None when none can describe it."""
        try:
            return self._templates.get(request.event, sender=self.sender,
                                       rsvp_email=self.rsvp_email, standing=request.standing)
        except ValueError as exc:
            # Only a library caller's own Event gets here (the parser refuses these first);
            # retrying could never render it.
            batch.reject(entry, f"cannot render the event: {exc}")
            return None

    def _send(
        self, batch: BatchLedger, entry: Entry, request: InviteRequest,
        template: InvitationTemplate, claimed: Claimed,
    ) -> None:
        """Render and hand the message to the mailer; note how the claim is to end."""
        claim = claimed.claim
        invitee, now = request.invitee, claim.now
        invitation = template.render(invitee, now=now, email_id=self._new_id())
        if self.pacer is not None:
            self.pacer.wait()
        try:
            delivery_id = self.mailer.send(RawEmail(
                sender=invitation.envelope_sender,
                recipient=invitation.recipient,
                data=invitation.data,
                event_uid=request.event.uid,
            ))
        except MailerError as exc:
            # A mail system's words quote the recipient (and SES's the sender): masked here,
            # before they reach a reason, a record, a log line or the intake's pause.
            words = mask_addresses(str(exc))
            if exc.account_level:
                batch.stop(f"mailer: {words}", halt=True)
            elif exc.throttled:
                self._pushback.throttled += 1
                batch.stop(f"not started: the mailer throttled this batch ({words})")
            if exc.transient:
                batch.released(entry, f"mailer: {words}")
            else:
                failed = MarkFailed(claim.key, claim.token, reason=words, at=now,
                                    counters=statistics.on_failed())
                batch.settled(entry, failed, Outcome.FAILED, f"mailer: {words}")
            return
        batch.settled(entry, sent_settlement(claimed, request, delivery_id), Outcome.SENT,
                      delivery_id=delivery_id, first=claimed.first)

    def _log_result(self, result: RecordResult) -> None:
        level = logging.WARNING if result.outcome in (Outcome.REJECTED, Outcome.FAILED) else (
            logging.INFO
        )
        log_outcome(
            self._log, outcome=result.outcome.value, message_id=result.message_id,
            event_uid=result.event_uid, address=result.address, reason=result.reason,
            level=level, delivery_id=result.delivery_id,
            sent_as=result.sent_as.value if result.sent_as else None,
        )


def _plain_invitation(request: InviteRequest) -> bool:
    """Whether the request only asks that the attendee be invited (no removal, no cancel)."""
    return request.action is InviteAction.INVITE and request.standing is Standing.INVITED


def _superseded(sequence: int, request: InviteRequest) -> str:
    return (f"version {sequence} of the event was recorded; this request is for version "
            f"{request.event.sequence}")


def acknowledge_processed(queue: InviteQueue, report: BatchReport) -> list[str]:
    """Delete what needs no retry, for consumers that delete messages themselves.

    Returns the receipts the queue failed to delete; those messages come back and are then
    found to be duplicates, so nothing is sent twice.
    """
    receipts = report.acknowledged_receipts
    return queue.acknowledge(receipts) if receipts else []
