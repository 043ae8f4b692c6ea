"""The deduplication rules: who may send an attendee's invitation, and when a claim is stale.

Stores that can run code inside their transaction (memory, SQLite) call `decide`; DynamoDB
expresses the same rule as one condition expression. The contract tests hold them equal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from cis.domain.model import (
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    InviteState,
    MarkFailed,
    MarkSent,
    ReplyChange,
    Settlement,
)

DEFAULT_LEASE = dt.timedelta(minutes=15)


def decide(existing: AttendeeRecord | None, claim: Claim) -> ClaimOutcome:
    """Decide a claim against what is stored for the attendee.

    A new attendee or a released claim is granted; a claim whose lease ran out (its consumer
    died between claiming and settling) is taken over; a settled invitation is never sent
    again; a live claim belongs to someone else until its lease ends, unless it carries this
    claim's own token: a claimant that writes its claim again (its first answer lost, or the
    write retried after a conflict) still owns it.
    """
    if existing is None or existing.state is InviteState.RELEASED:
        return ClaimOutcome.CLAIMED
    if existing.state is InviteState.SENT:
        return ClaimOutcome.ALREADY_SENT
    if existing.state is InviteState.FAILED:
        return ClaimOutcome.ALREADY_FAILED
    if existing.claim_token == claim.token:
        return ClaimOutcome.CLAIMED
    if existing.lease_expires_at is not None and existing.lease_expires_at <= claim.now:
        return ClaimOutcome.TAKEN_OVER
    return ClaimOutcome.IN_PROGRESS


def claimed_record(existing: AttendeeRecord | None, claim: Claim) -> AttendeeRecord:
    """The record a granted claim leaves behind; history from earlier attempts is kept."""
    invitee = claim.invitee
    return AttendeeRecord(
        key=claim.key,
        email=invitee.email,
        name=invitee.name,
        partstat=invitee.partstat,
        origin=invitee.origin,
        state=InviteState.CLAIMED,
        claim_token=claim.token,
        lease_expires_at=claim.lease_expires_at,
        history=existing.history if existing else (),
    )


def owns(existing: AttendeeRecord | None, token: str) -> bool:
    """True while `token` still holds the attendee's claim (no one took it over)."""
    return (
        existing is not None
        and existing.state is InviteState.CLAIMED
        and existing.claim_token == token
    )


def settled_record(existing: AttendeeRecord, settlement: Settlement) -> AttendeeRecord:
    """The record after `settlement`; the caller has checked that the claim is still owned."""
    if isinstance(settlement, MarkSent):
        return replace(
            existing,
            state=InviteState.SENT,
            claim_token=None,
            lease_expires_at=None,
            sent_at=settlement.at,
            delivery_id=settlement.delivery_id,
            history=(*existing.history, settlement.history),
        )
    if isinstance(settlement, MarkFailed):
        return replace(
            existing,
            state=InviteState.FAILED,
            claim_token=None,
            lease_expires_at=None,
            failure_reason=settlement.reason,
        )
    return replace(existing, state=InviteState.RELEASED, claim_token=None, lease_expires_at=None)


def reply_applies(existing: AttendeeRecord | None, change: ReplyChange) -> bool:
    """True when `change` was decided on the attendee's current state (the optimistic check)."""
    return (
        existing is not None
        and existing.state is InviteState.SENT
        and existing.partstat == change.expected_partstat
        and len(existing.history) == change.expected_history_length
    )


def replied_record(existing: AttendeeRecord, change: ReplyChange) -> AttendeeRecord:
    """The record after an applied reply."""
    return replace(
        existing,
        partstat=change.partstat,
        last_reply_at=change.last_reply_at,
        history=(*existing.history, change.entry),
    )
