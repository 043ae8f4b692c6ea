"""The invite flow's claims: owning the sending of one attendee's message, or standing aside.

A first invitation is claimed without reading the attendee (the store's conditional write
decides); a later version reads the attendee, decides, and claims only if it is unchanged.
Either way the claim's outcome becomes the record's in the batch's ledger, or the claim to
send under. `InviteService` runs them with its own writes, clock and ids.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from cis.domain.claims import claim_counters, decide
from cis.domain.events import EventRecord
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimBasis,
    ClaimOutcome,
    InviteRequest,
)
from cis.errors import RepositoryError
from cis.ports.repository import InviteRepository
from cis.services.batch_ledger import BatchLedger, Entry
from cis.services.batch_writes import REPOSITORY_ATTEMPTS, BatchWrites
from cis.services.settlements import Claimed, first_invitation

__all__ = ["SUPPRESSED_REASON", "ClaimSteps"]

SUPPRESSED_REASON = ("the address is on the suppression list (a permanent bounce or a "
                     "complaint); `cis suppressions list` says why, `lift` sends again")
"""Why a request to a suppressed address is not sent: the same for every one of them, so the
invite path reads nothing more than its claim."""


class ClaimSteps:
    """Claims of attendees, for the service that owns the batch, its writes and its clock.

    A claim's lease is `claim_lease` from the clock's now; its token comes from `new_id`.
    """

    def __init__(
        self, *, repository: InviteRepository, writes: BatchWrites,
        clock: Callable[[], dt.datetime], new_id: Callable[[], str], claim_lease: dt.timedelta,
    ) -> None:
        self.repository = repository
        self._writes = writes
        self._clock = clock
        self._new_id = new_id
        self.claim_lease = claim_lease

    def claim(
        self, batch: BatchLedger, entry: Entry, key: AttendeeKey, request: InviteRequest
    ) -> Claimed | None:
        """Own the attendee's first invitation without reading it first; None if not ours."""
        claim = self._new_claim(entry, key, request)
        try:
            granted = self._writes.write_then_claim(batch, entry, claim)
        except RepositoryError as exc:
            batch.retry(entry, f"claim failed: {exc}")
            return None
        return self._granted(batch, entry, granted, claim, first=True)

    def versioned_claim(
        self, batch: BatchLedger, entry: Entry, key: AttendeeKey, request: InviteRequest,
        stored: EventRecord,
    ) -> Claimed | None:
        """Own the sending of a later version: read the attendee, decide, claim if unchanged.

        An attendee that changed between the read and the claim (a reply, another consumer)
        is read again; one that keeps changing is retried by the queue.
        """
        try:
            for _ in range(REPOSITORY_ATTEMPTS):
                seen = self._writes.with_retries(
                    lambda: self.repository.get_attendee(key.event_uid, key.address))
                claim = self._new_claim(entry, key, request,
                                        answers_from=stored.times_changed_at, seen=seen)
                planned = decide(seen, claim)
                if not planned.granted and planned is not ClaimOutcome.NEVER_SENT:
                    return self._granted(batch, entry, planned, claim, first=False)
                granted = self._writes.write_then_claim(batch, entry, claim)
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

