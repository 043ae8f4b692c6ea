"""The invite flow: parse, claim, render, send, settle, count; one batch at a time.

Each record is processed on its own: one failure never stops the others. What failed for a
passing reason is marked RETRY (the queue redelivers it); what can never succeed is
REJECTED or FAILED with its reason, counted, and acknowledged. What each record came to is
kept in a `BatchLedger`; this module only decides.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

from cis.domain import statistics
from cis.domain.claims import DEFAULT_LEASE, claim_counters, decide
from cis.domain.events import EventRecord
from cis.domain.model import (
    Applied,
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimBasis,
    ClaimOutcome,
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
from cis.services.batch_ledger import BatchLedger, Entry, Unwritten
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

_T = TypeVar("_T")

REPOSITORY_ATTEMPTS = 5
"""Tries of a claim or a count that the store pushed back (a conflict, throttling) before the
record is handed back to the queue."""
RECORDING_PATIENCE = 60.0
"""Seconds a batch keeps trying to record what it sent when no deadline says otherwise."""
DEADLINE_RESERVE = 10.0
"""Seconds before the deadline at which a batch takes no more records: what it sent is then
recorded, and the rest handed back untouched, before the invocation is stopped."""

SUPPRESSED_REASON = ("the address is on the suppression list (a permanent bounce or a "
                     "complaint); `cis suppressions list` says why, `lift` sends again")
"""Why a request to a suppressed address is not sent: the same for every one of them, so the
invite path reads nothing more than its claim."""

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
        self._clock = clock
        self._new_id = new_id
        self._sleep = sleep
        self._log = logger or logging.getLogger(LOGGER_NAME)
        self._templates = TemplateCache()
        self._versions = EventVersions(repository)
        self._backoff = backoff or Backoff()
        self._random = random.Random()  # noqa: S311 - spreads retries, guards nothing
        self._deadline_reserve = deadline_reserve
        self._relay = relay
        self._stop_requested = stop_requested
        #: What pushed back so far (throttled sends, store conflicts, newer formats); each
        #: batch reports what it grew by. A service runs one batch at a time.
        self._pushback = Pushback()
        self._steps = LifecycleSteps(
            repository=repository, versions=self._versions, relay=relay,
            attempt=self._with_retries, new_id=new_id, run_batch=self._run,
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
        self._write_the_rest(batch, time_left)
        self._catch_up(batch)
        batch.resolve_repeats()
        self._count(batch)
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
            stored = self._with_retries(lambda: self._versions.stored(request.event))
        except RepositoryError as exc:
            batch.retry(entry, f"event version not recorded: {exc}")
            return
        if stored.sequence > request.event.sequence:
            if not _plain_invitation(request):
                batch.stale(entry, _superseded(stored.sequence, request))
                return
            # An invitation to an older version invites an attendee sent nothing yet to the
            # current one; for anyone else it is stale (see `_granted`).
            entry.older_version = request.event.sequence
            request = replace(request, event=stored.event)
            batch.parsed(entry, request)
        template = self._template(batch, entry, request)
        if template is None:
            return
        if first_invitation(request):
            claimed = self._claim(batch, entry, key, request)
        else:
            claimed = self._versioned_claim(batch, entry, key, request, stored)
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

    def _claim(
        self, batch: BatchLedger, entry: Entry, key: AttendeeKey, request: InviteRequest
    ) -> Claimed | None:
        """Own the attendee's first invitation without reading it first; None if not ours."""
        claim = self._new_claim(entry, key, request)
        try:
            granted = self._write_then_claim(batch, entry, claim)
        except RepositoryError as exc:
            batch.retry(entry, f"claim failed: {exc}")
            return None
        return self._granted(batch, entry, granted, claim, first=True)

    def _versioned_claim(
        self, batch: BatchLedger, entry: Entry, key: AttendeeKey, request: InviteRequest,
        stored: EventRecord,
    ) -> Claimed | None:
        """Own the sending of a later version: read the attendee, decide, claim if unchanged.

        An attendee that changed between the read and the claim (a reply, another consumer)
        is read again; one that keeps changing is retried by the queue.
        """
        try:
            for _ in range(REPOSITORY_ATTEMPTS):
                seen = self._with_retries(
                    lambda: self.repository.get_attendee(key.event_uid, key.address))
                claim = self._new_claim(entry, key, request,
                                        answers_from=stored.times_changed_at, seen=seen)
                planned = decide(seen, claim)
                if not planned.granted and planned is not ClaimOutcome.NEVER_SENT:
                    return self._granted(batch, entry, planned, claim, first=False)
                granted = self._write_then_claim(batch, entry, claim)
                if granted is not ClaimOutcome.CHANGED:
                    return self._granted(batch, entry, granted, claim,
                                         first=seen is None or seen.sequence is None)
        except RepositoryError as exc:
            batch.retry(entry, f"claim failed: {exc}")
            return None
        batch.retry(entry, "the attendee kept changing while the claim was written")
        return None

    def _new_claim(
        self, entry: Entry, key: AttendeeKey, request: InviteRequest, *, answers_from: int = 0,
        seen: AttendeeRecord | None = None,
    ) -> Claim:
        now = self._clock()
        claim = Claim(key=key, invitee=request.invitee, token=self._new_id(), now=now,
                      lease_expires_at=now + self.claim_lease,
                      sequence=request.event.sequence, action=request.action,
                      standing=request.standing, answers_from=answers_from,
                      resend_id=entry.resend_id)
        if first_invitation(request):
            return claim
        return replace(claim, basis=ClaimBasis(seen), counters=claim_counters(seen, claim))

    @staticmethod
    def _granted(
        batch: BatchLedger, entry: Entry, outcome: ClaimOutcome, claim: Claim, *, first: bool
    ) -> Claimed | None:
        """The claim to send under, or None with the record's outcome decided."""
        if entry.older_version is not None and outcome in (
                ClaimOutcome.ALREADY_SENT, ClaimOutcome.ALREADY_FAILED, ClaimOutcome.STALE):
            batch.stale(entry, f"version {claim.sequence} of the event was recorded; this "
                               f"request is for version {entry.older_version}")
            return None
        if outcome in (ClaimOutcome.ALREADY_SENT, ClaimOutcome.ALREADY_FAILED):
            batch.duplicate(entry, f"invitation {outcome.value}")
            return None
        if outcome is ClaimOutcome.STALE:
            batch.stale(entry, "the attendee was sent, or is being sent, a later version")
            return None
        if outcome is ClaimOutcome.NEVER_SENT:
            batch.nothing_to_send(entry, "the attendee was never sent anything to change")
            return None
        if outcome is ClaimOutcome.IN_PROGRESS:
            batch.retry(entry, "another consumer holds the claim")
            return None
        if outcome is ClaimOutcome.CHANGED:
            batch.retry(entry, "the attendee changed while the claim was written")
            return None
        if outcome is ClaimOutcome.SUPPRESSED:
            batch.suppressed(entry, SUPPRESSED_REASON)
            return None
        batch.claimed(entry, claim)
        return Claimed(claim, first=first)

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

    def _write_then_claim(self, batch: BatchLedger, entry: Entry, claim: Claim) -> ClaimOutcome:
        """Claim the next attendee in the same write that records what was settled so far.

        Every send is thus recorded before the next one starts: a crash leaves at most one
        accepted send unrecorded, and a batch still costs one write per invite. If the write
        fails, the earlier settlements stay unwritten for the next claim or the batch's end.
        """
        unwritten = batch.unwritten(before=entry)
        if not unwritten:
            return self._with_retries(lambda: self.repository.claim(claim))
        settlements = [settlement for _, settlement in unwritten]
        applied, granted = self._with_retries(
            lambda: self.repository.settle_then_claim(settlements, claim))
        self._written(batch, unwritten, applied)
        return granted

    def _write_the_rest(self, batch: BatchLedger, time_left: TimeLeft | None) -> None:
        """Write what no claim carried, in one call, trying again while there is time.

        Each unwritten send keeps its attendee claimed until the lease ends, after which a
        redelivery sends it again: so a passing failure (a conflict, throttling) is retried
        until the write lands, the invocation's time runs short, or `RECORDING_PATIENCE`
        passes. What still cannot be written is retried by the queue.
        """
        unwritten = batch.unwritten()
        if not unwritten:
            return
        settlements = [settlement for _, settlement in unwritten]
        try:
            applied = self._until_written(lambda: self.repository.settle(settlements), time_left)
        except RepositoryError as exc:
            batch.not_written(unwritten, str(exc))
            return
        self._written(batch, unwritten, applied)

    def _catch_up(self, batch: BatchLedger) -> None:
        """Retry the first messages a newer version overtook while they were being sent.

        A fan-out reaches every attendee recorded (or being sent something) when it pages
        them; an attendee first claimed after it passed them, by a consumer that did not yet
        know the new version, is sent the older one. The store checks each first message's
        settlement against the stored version in the same write (`MarkSent.fence`) and
        reports those overtaken: each is retried, and its redelivery sends the attendee the
        newer version. A version stored after that write finds the attendee's record when
        its fan-out pages them.
        """
        reached = batch.versions_in_hand()
        for event_uid, entries in batch.first_messages().items():
            latest = batch.overtaken_by.get(event_uid)
            if latest is None:
                continue
            self._versions.saw(event_uid, latest)
            for entry in entries:
                attendee, request = entry.attendee, entry.request
                if attendee is None or request is None:
                    continue
                sent = request.event.sequence
                if reached.get(attendee, sent) < latest:
                    batch.overtaken(entry, f"sent version {sent}; version {latest} was "
                                           "recorded meanwhile, and is sent on redelivery")

    def _written(self, batch: BatchLedger, unwritten: Unwritten, applied: Applied) -> None:
        for entry in batch.written(unwritten, applied):
            self._log.warning(
                "claim for message %s was taken over before it was recorded; "
                "the attendee may receive a second invitation", entry.record.message_id,
                extra={"message_id": entry.record.message_id, "event_uid": entry.event_uid},
            )

    def _count(self, batch: BatchLedger) -> None:
        """Add each event's rejected and duplicate counts in one write per event."""
        for event_uid, (counters, entries) in batch.contributions().items():
            try:
                self._with_retries(partial(self.repository.apply_statistics, event_uid, counters))
            except RepositoryError as exc:
                batch.not_counted(entries, str(exc))

    def _with_retries(self, action: Callable[[], _T]) -> _T:
        """`action`, tried again after a passing store failure, a few times, with jitter."""
        for attempt in range(REPOSITORY_ATTEMPTS):
            try:
                return action()
            except RepositoryError as exc:
                self._pushback.conflicts += exc.conflict
                if not exc.transient or attempt == REPOSITORY_ATTEMPTS - 1:
                    raise
                self._sleep(self._backoff.delay(attempt, self._random))
        raise AssertionError("unreachable")

    def _until_written(self, action: Callable[[], _T], time_left: TimeLeft | None) -> _T:
        """`action`, tried again after a passing store failure while there is time for it."""
        waited = 0.0
        attempt = 0
        while True:
            try:
                return action()
            except RepositoryError as exc:
                self._pushback.conflicts += exc.conflict
                delay = self._backoff.delay(attempt, self._random)
                room = (RECORDING_PATIENCE - waited if time_left is None
                        else time_left() - self._deadline_reserve / 2)
                if not exc.transient or delay >= room:
                    raise
                self._sleep(delay)
                waited += delay
                attempt += 1

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
