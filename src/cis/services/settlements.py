"""How a claimed message ends when the mailer accepts it: the version recorded, what it counts."""

from __future__ import annotations

from dataclasses import dataclass

from cis.domain import statistics
from cis.domain.model import (
    RESEND_SOURCE,
    Claim,
    HistoryEntry,
    InviteAction,
    InviteRequest,
    MarkSent,
    Standing,
    resend_source,
)

__all__ = ["HISTORY_SOURCE", "Claimed", "first_invitation", "sent_settlement"]

HISTORY_SOURCE = "cis:invite"
"""The history source of an attendee's first invitation; later messages say what they were."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A granted claim, and whether the message is the first the attendee is sent."""

    claim: Claim
    first: bool


def first_invitation(request: InviteRequest) -> bool:
    """Whether the request can only be an attendee's first message: claimed without a read."""
    return (request.event.sequence == 0 and request.action is InviteAction.INVITE
            and request.standing is Standing.INVITED)


def sent_settlement(claimed: Claimed, request: InviteRequest, delivery_id: str) -> MarkSent:
    """How an accepted message settles its claim: the version it carried, what it counts.

    The first message to an attendee counts the invitation (its answer, origin and role),
    and is fenced by its version (see `MarkSent.fence`); a later one counts what it was: an
    update, a cancellation, a removal or a resend. A message whose event had a text cut
    when its body was read counts that too (`texts_shortened`).
    """
    claim, invitee = claimed.claim, request.invitee
    if claimed.first:
        entry = HistoryEntry(status=invitee.partstat, at=claim.now, source=HISTORY_SOURCE)
        counters = statistics.on_sent(invitee.partstat, invitee.origin, invitee.role)
    else:
        entry = HistoryEntry(status=request.standing.method, at=claim.now,
                             source=_source(request, claim))
        counters = statistics.on_later_message(request.action, request.standing)
    if request.event.shortened:
        counters = statistics.merge(counters, statistics.on_shortened())
    return MarkSent(claim.key, claim.token, delivery_id=delivery_id, at=claim.now,
                    history=entry, counters=counters, sequence=request.event.sequence,
                    standing=request.standing,
                    fence=request.event.sequence if claimed.first else None)


def _source(request: InviteRequest, claim: Claim) -> str:
    """The history source of a later message: what it was, and for a resend, who asked."""
    if request.action is InviteAction.RESEND:
        return resend_source(claim.resend_id) if claim.resend_id else RESEND_SOURCE
    if request.action is InviteAction.REMOVE:
        return "cis:remove"
    return "cis:cancel" if request.standing is Standing.CANCELLED else "cis:update"
