"""The deduplication rules: who may send an attendee which version, and when a claim is stale.

Each attendee remembers the SEQUENCE of the last message the mailer accepted for them. A
version above it may be sent, once: the first to claim it sends, the others find it sent.
The same version is a duplicate, unless resent on purpose (once per resend request); a lower
one is stale and never follows a newer one. Stores that can run code inside their
transaction (memory, SQLite) call `decide`; DynamoDB expresses the same rule as one condition
expression, and classifies a refusal with `decide`. The contract tests hold them equal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from cis.domain import statistics
from cis.domain.model import (
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    InviteAction,
    InviteState,
    MarkFailed,
    MarkSent,
    PartStat,
    ReplyChange,
    Role,
    Settlement,
    Standing,
    resend_source,
)

DEFAULT_LEASE = dt.timedelta(minutes=15)


def decide(existing: AttendeeRecord | None, claim: Claim) -> ClaimOutcome:
    """Decide a claim against what is stored for the attendee.

    A version above the last one sent is granted (taken over from a consumer whose lease ran
    out); the same version is already sent (or failed), unless it is resent on purpose; a
    lower one is stale, and so is one below a version another consumer is sending. A live
    claim belongs to its consumer until its lease ends, unless it carries this claim's own
    token (a claimant writing its claim again). A cancellation, removal or resend for an
    attendee never sent anything has nothing to send, nor has a resend to an attendee taken
    off the event.
    """
    if existing is None:
        return ClaimOutcome.CLAIMED if _first_message(claim) else ClaimOutcome.NEVER_SENT
    if existing.state is InviteState.CLAIMED and existing.claim_token == claim.token:
        return ClaimOutcome.CLAIMED
    live = existing.state is InviteState.CLAIMED and not _expired(existing, claim.now)
    if live:
        return _against_live_claim(existing, claim)
    if existing.state is InviteState.FAILED:
        return _against_failure(existing, claim)
    granted = (ClaimOutcome.TAKEN_OVER if existing.state is InviteState.CLAIMED
               else ClaimOutcome.CLAIMED)
    sent = existing.sequence
    if sent is None:
        return granted if _first_message(claim) else ClaimOutcome.NEVER_SENT
    if claim.action is InviteAction.RESEND and existing.standing is Standing.REMOVED:
        return ClaimOutcome.NEVER_SENT  # a resend never puts a removed attendee back
    if claim.sequence < sent:
        return ClaimOutcome.STALE
    if claim.sequence == sent and claim.action is not InviteAction.RESEND:
        return ClaimOutcome.ALREADY_SENT
    if _resent_before(existing, claim):
        return ClaimOutcome.ALREADY_SENT
    return granted


def _resent_before(existing: AttendeeRecord, claim: Claim) -> bool:
    """Whether the resend this claim is for was sent already (its request came again)."""
    if claim.action is not InviteAction.RESEND or claim.resend_id is None:
        return False
    source = resend_source(claim.resend_id)
    return any(entry.source == source for entry in existing.history)


def _first_message(claim: Claim) -> bool:
    """Whether the claim may be the first message an attendee gets: an invitation."""
    return claim.action is InviteAction.INVITE and claim.standing is Standing.INVITED


def _expired(existing: AttendeeRecord, now: dt.datetime) -> bool:
    return existing.lease_expires_at is not None and existing.lease_expires_at <= now


def _against_live_claim(existing: AttendeeRecord, claim: Claim) -> ClaimOutcome:
    """Another consumer is sending: a lower version than its own is stale, the rest waits."""
    sending = existing.claim_sequence
    if sending is not None and claim.sequence < sending:
        return ClaimOutcome.STALE
    return ClaimOutcome.IN_PROGRESS


def _against_failure(existing: AttendeeRecord, claim: Claim) -> ClaimOutcome:
    """The mailer refused the last attempt for good: only a later version, or a resend, tries."""
    failed = existing.claim_sequence if existing.claim_sequence is not None else 0
    if claim.sequence < failed:
        return ClaimOutcome.STALE
    if claim.sequence == failed and claim.action is not InviteAction.RESEND:
        return ClaimOutcome.ALREADY_FAILED
    if existing.sequence is None and not _first_message(claim):
        return ClaimOutcome.NEVER_SENT
    return ClaimOutcome.CLAIMED


def asks_again(existing: AttendeeRecord | None, claim: Claim) -> bool:
    """Whether the claim resets the attendee's answer: their answer predates a time change."""
    return (existing is not None and existing.sequence is not None
            and existing.answer_sequence < claim.answers_from)


def claim_counters(existing: AttendeeRecord | None, claim: Claim) -> Counters:
    """What a granted versioned claim moves in the statistics, decided on `existing`.

    An answer asked again leaves its bucket for NEEDS-ACTION; an attendee whose last attempt
    failed for good is tried again, so is no longer counted failed; an invited attendee
    given another role by this invitation moves to its bucket (see `claimed_role`).
    """
    moved = statistics.on_rsvp_change(existing.partstat, PartStat.NEEDS_ACTION) if (
        existing is not None and asks_again(existing, claim)) else {}
    failed = existing is not None and existing.state is InviteState.FAILED
    role = statistics.on_role_change(existing.role, claimed_role(existing, claim)) if (
        existing is not None and existing.sequence is not None) else {}
    return statistics.merge(moved, role, {statistics.INVITES_FAILED: -1} if failed else {})


def claimed_role(existing: AttendeeRecord | None, claim: Claim) -> Role:
    """The role the attendee has once the claim is granted.

    An invitation (or update) gives the role its request names, as it gives the name; a
    removal, a cancellation or a resend keeps the one the attendee was invited in.
    """
    if existing is None or (claim.action is InviteAction.INVITE
                            and claim.standing is Standing.INVITED):
        return claim.invitee.role
    return existing.role


def claimed_record(existing: AttendeeRecord | None, claim: Claim) -> AttendeeRecord:
    """The record a granted claim leaves behind.

    A first claim takes the request's answer; a later one keeps the attendee's own (reset to
    NEEDS-ACTION when `asks_again`), their history, and what they were last sent.
    """
    invitee = claim.invitee
    if existing is None:
        return AttendeeRecord(
            key=claim.key, email=invitee.email, name=invitee.name, partstat=invitee.partstat,
            origin=invitee.origin, state=InviteState.CLAIMED, claim_token=claim.token,
            lease_expires_at=claim.lease_expires_at, claim_sequence=claim.sequence,
            answer_sequence=claim.answers_from, role=invitee.role,
        )
    again = asks_again(existing, claim)
    return replace(
        existing,
        email=invitee.email,
        name=invitee.name,
        origin=invitee.origin,
        role=claimed_role(existing, claim),
        partstat=PartStat.NEEDS_ACTION if again else (
            existing.partstat if existing.sequence is not None else invitee.partstat),
        answer_sequence=claim.answers_from if again else existing.answer_sequence,
        state=InviteState.CLAIMED,
        claim_token=claim.token,
        lease_expires_at=claim.lease_expires_at,
        claim_sequence=claim.sequence,
        failure_reason=None,
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
            sequence=settlement.sequence,
            standing=settlement.standing,
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
    """True when `change` was decided on the attendee's current state (the optimistic check).

    An attendee answers once they were sent something, whether or not a later version is
    being sent to them now.
    """
    return (
        existing is not None
        and existing.sequence is not None
        and existing.partstat == change.expected_partstat
        and len(existing.history) == change.expected_history_length
        and existing.replies_dropped == change.expected_replies_dropped
    )


def replied_record(existing: AttendeeRecord, change: ReplyChange) -> AttendeeRecord:
    """The record after an applied reply: its entry appended, older replies dropped if full."""
    history = (*existing.history, change.entry) if change.history is None else change.history
    return replace(
        existing,
        partstat=change.partstat,
        last_reply_at=change.last_reply_at,
        history=history,
        replies_dropped=existing.replies_dropped + len(existing.history) + 1 - len(history),
    )
