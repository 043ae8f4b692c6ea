"""The invite flow's steps for the messages that are not one attendee's request.

A resend names an attendee and an event, and becomes the request that sends the stored
version again; a fan-out names a version, and becomes one message per attendee already sent
something (onto the relay queue, or sent here page by page). Both end in the batch ledger as
any record does; `InviteService` runs them with its own retries, clock and batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from cis.domain.events import resend_request
from cis.domain.model import FanOut, InviteRequest, Resend, Standing
from cis.errors import QueueError, RepositoryError
from cis.ports.queue import InviteQueue
from cis.ports.repository import InviteRepository
from cis.services.batch_ledger import BatchLedger, Entry
from cis.services.event_versions import EventVersions
from cis.services.fan_out import Deliver, FanOutProgress, expand, relay_to
from cis.services.producer import outgoing_message
from cis.services.reports import BatchReport, RecordResult

__all__ = ["LifecycleSteps", "TimeLeft"]

_T = TypeVar("_T")

TimeLeft = Callable[[], float]
"""Seconds left before the consumer is stopped (a Lambda's remaining time)."""


class Attempt(Protocol):
    """Runs one store call with the service's retries of passing failures."""

    def __call__(self, action: Callable[[], _T], /) -> _T: ...


class LifecycleSteps:
    """Resends and fan-outs, for the service that owns the batch, its retries and its clock.

    `run_batch` processes per-attendee requests as a batch of their own (a fan-out without a
    relay sends each page so); `may_start` says whether a record may still start now.
    """

    def __init__(
        self, *, repository: InviteRepository, versions: EventVersions,
        relay: InviteQueue | None, attempt: Attempt, new_id: Callable[[], str],
        run_batch: Callable[[BatchLedger, TimeLeft | None], BatchReport],
        may_start: Callable[[TimeLeft | None], bool],
    ) -> None:
        self.repository = repository
        self._versions = versions
        self._relay = relay
        self._with_retries = attempt
        self._new_id = new_id
        self._run = run_batch
        self._may_start = may_start

    def resend(self, batch: BatchLedger, entry: Entry, resend: Resend) -> InviteRequest | None:
        """The request that sends the attendee the stored version again, if there is one.

        The resend is named by the queue's id of its message (a redelivery finds it done),
        or by a new id when it came without a queue.
        """
        try:
            stored = self._with_retries(lambda: self.repository.get_event(resend.event_uid))
            attendee = (None if stored is None else self._with_retries(
                lambda: self.repository.get_attendee(resend.event_uid, resend.email)))
        except RepositoryError as exc:
            batch.retry(entry, f"could not read what to resend: {exc}")
            return None
        if stored is None:
            batch.nothing_to_send(entry, f"no version of event {resend.event_uid!r} was "
                                         "recorded: nothing was sent to resend")
            return None
        if attendee is None or attendee.sequence is None:
            batch.nothing_to_send(entry, "the attendee was never sent anything to resend")
            return None
        if attendee.standing is Standing.REMOVED:
            batch.nothing_to_send(entry, "the attendee was taken off the event; invite them "
                                         "again with a higher sequence")
            return None
        request = resend_request(attendee, stored)
        entry.resend_id = (entry.record.message_id if batch.from_queue else self._new_id())
        batch.parsed(entry, request)
        return request

    def fan_out(
        self, batch: BatchLedger, entry: Entry, fan_out: FanOut, time_left: TimeLeft | None,
        sent: list[RecordResult] | None,
    ) -> None:
        """Expand a fan-out: onto the relay queue, or (without one) sent here page by page.

        Out of time with a relay, the rest goes on in a new fan-out message (the one noted
        progress tells it where to start); without one, the record is retried.
        """
        event = fan_out.event
        try:
            stored = self._with_retries(lambda: self._versions.recorded(event))
        except RepositoryError as exc:
            batch.retry(entry, f"event version not recorded: {exc}")
            return
        if stored.sequence > event.sequence:
            batch.stale(entry, f"version {stored.sequence} of the event was recorded; this "
                               f"fan-out is for version {event.sequence}")
            return
        if stored.fan_out_done:
            batch.fanned_out_before(entry, f"the fan-out of version {event.sequence} is done")
            return
        deliver = (relay_to(self._relay) if self._relay is not None
                   else self._sender(batch, time_left, sent))
        try:
            progress = expand(self.repository, stored, deliver,
                              more_time=lambda: self._may_start(time_left),
                              attempt=self._with_retries)
        except (RepositoryError, QueueError) as exc:
            batch.retry(entry, f"fan-out stopped, goes on from where it was noted: {exc}")
            return
        self._fanned_out(batch, entry, fan_out, progress)

    def _sender(
        self, batch: BatchLedger, time_left: TimeLeft | None, sent: list[RecordResult] | None,
    ) -> Deliver:
        """Deliver a fan-out's groups by sending them here, as batches of their own."""
        def deliver(requests: Sequence[InviteRequest]) -> bool:
            report = self._run(BatchLedger.of_requests(requests), time_left)
            if sent is not None:
                sent.extend(report.results)
            if report.halted:
                batch.stop(f"mailer: {report.halted}", halt=True)
            return all(result.outcome.acknowledged for result in report.results)

        return deliver

    def _fanned_out(
        self, batch: BatchLedger, entry: Entry, fan_out: FanOut, progress: FanOutProgress,
    ) -> None:
        sequence = fan_out.event.sequence
        if progress.superseded:
            batch.stale(entry, f"a version after {sequence} was recorded during the fan-out")
        elif progress.done:
            batch.expanded(entry, f"version {sequence}: {progress.handed_on} attendee "
                                  "messages handed on")
        elif self._relay is None or not progress.out_of_time:
            batch.retry(entry, f"fan-out stopped after {progress.handed_on} attendee "
                               f"messages: {progress.stopped}")
        else:
            try:
                self._relay.enqueue([outgoing_message(fan_out, part=entry.record.message_id)])
            except QueueError as exc:
                batch.retry(entry, f"fan-out could not go on in a new message: {exc}")
                return
            batch.expanded(entry, f"version {sequence}: {progress.handed_on} attendee "
                                  "messages handed on; the rest goes on in a new message")
