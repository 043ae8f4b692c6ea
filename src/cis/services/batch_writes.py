"""The invite flow's writes to the store, and the retries of those that pushed back.

What a batch settled is written with the claim of the next attendee, so that every send is
recorded before the next one starts; what no claim carried is written once at the batch's
end, while there is time; each event's counters in one write. `InviteService` decides what
to write; this module writes it, and says in the batch's ledger what came of each write.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from cis.domain.model import Applied, Claim, ClaimOutcome
from cis.errors import RepositoryError
from cis.ports.repository import InviteRepository
from cis.services.batch_ledger import BatchLedger, Entry, Unwritten
from cis.services.event_versions import EventVersions
from cis.services.lifecycle_steps import TimeLeft
from cis.services.pushback import Pushback
from cis.services.retrying import Backoff

__all__ = ["RECORDING_PATIENCE", "REPOSITORY_ATTEMPTS", "BatchWrites"]

_T = TypeVar("_T")

REPOSITORY_ATTEMPTS = 5
"""Tries of a claim or a count that the store pushed back (a conflict, throttling) before the
record is handed back to the queue."""
RECORDING_PATIENCE = 60.0
"""Seconds a batch keeps trying to record what it sent when no deadline says otherwise."""


class BatchWrites:
    """The store writes of the service that owns the batch, each retried while it passes.

    `pushback` is the service's own count, grown here by each conflict the store reports;
    `deadline_reserve` is the service's, half of which a last write leaves unspent.
    """

    def __init__(
        self, *, repository: InviteRepository, versions: EventVersions, pushback: Pushback,
        sleep: Callable[[float], None], backoff: Backoff, deadline_reserve: float,
        logger: logging.Logger,
    ) -> None:
        self.repository = repository
        self._versions = versions
        self._pushback = pushback
        self._sleep = sleep
        self._backoff = backoff
        self._random = random.Random()  # noqa: S311 - spreads retries, guards nothing
        self._deadline_reserve = deadline_reserve
        self._log = logger

    def write_then_claim(self, batch: BatchLedger, entry: Entry, claim: Claim) -> ClaimOutcome:
        """Claim the next attendee in the same write that records what was settled so far.

        Every send is thus recorded before the next one starts: a crash leaves at most one
        accepted send unrecorded, and a batch still costs one write per invite. If the write
        fails, the earlier settlements stay unwritten for the next claim or the batch's end.
        """
        unwritten = batch.unwritten(before=entry)
        if not unwritten:
            return self.with_retries(lambda: self.repository.claim(claim))
        settlements = [settlement for _, settlement in unwritten]
        applied, granted = self.with_retries(
            lambda: self.repository.settle_then_claim(settlements, claim))
        self._written(batch, unwritten, applied)
        return granted

    def write_the_rest(self, batch: BatchLedger, time_left: TimeLeft | None) -> None:
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

    def catch_up(self, batch: BatchLedger) -> None:
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

    def count(self, batch: BatchLedger) -> None:
        """Add each event's rejected and duplicate counts in one write per event."""
        for event_uid, (counters, entries) in batch.contributions().items():
            try:
                self.with_retries(partial(self.repository.apply_statistics, event_uid, counters))
            except RepositoryError as exc:
                batch.not_counted(entries, str(exc))

    def with_retries(self, action: Callable[[], _T]) -> _T:
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

