"""RSVP rules: whose reply to trust, and what a trusted reply changes.

A reply changes an attendee's status only when it comes from that attendee, answers an
invitation we sent, and is newer than the last answer applied. Everything else is recorded
in history or rejected, and counted, but changes no status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cis.domain import statistics
from cis.domain.imip_reply import Reply, Verdicts, same_address
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Counters,
    HistoryEntry,
    InviteState,
    PartStat,
    ReplyChange,
)
from cis.errors import InvalidReplyError

REPLIES_APPLIED = "replies_applied"
REPLIES_RECORDED = "replies_recorded"
REPLIES_REJECTED = "replies_rejected"
REPLIES_IGNORED = "replies_ignored"
COUNTER_PROPOSALS = "counter_proposals"

MAILBOX = "_rsvp"
"""Where replies that belong to no known attendee are counted: not a valid event uid, so it
can never collide with one, and forged mail cannot create a statistics item per made-up uid."""

ANSWERS = frozenset({PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE,
                     PartStat.DELEGATED})


class ReplyOutcome(StrEnum):
    """What became of one reply."""

    APPLIED = "applied"
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class ReplyDecision:
    """The outcome, why, and the change to write (None when nothing is written)."""

    outcome: ReplyOutcome
    reason: str
    change: ReplyChange | None = None


def check_trust(reply: Reply, verdicts: Verdicts) -> None:
    """Refuse replies that could change someone else's answer.

    Raises:
        InvalidReplyError: when the From address is not the replying attendee, or SES
            found SPF, DKIM or DMARC failing.

    """
    failed = verdicts.failures()
    if failed:
        raise InvalidReplyError(f"{'/'.join(failed)} verdict FAIL", event_uid=reply.event_uid)
    if not same_address(reply.from_address, reply.attendee):
        raise InvalidReplyError(
            f"From <{reply.from_address}> is not the replying attendee <{reply.attendee}>",
            event_uid=reply.event_uid,
        )


def decide_reply(record: AttendeeRecord | None, reply: Reply) -> ReplyDecision:
    """Decide what a trusted reply does to the attendee as currently stored.

    A reply already in the history (a redelivery) does nothing. A COUNTER proposal, a reply
    to a cancelled event, a NEEDS-ACTION "answer" and a reply older than the last one applied
    are recorded in history and counted; only a current answer changes the status.
    """
    if record is None or record.state is not InviteState.SENT:
        return ReplyDecision(ReplyOutcome.REJECTED, "not an invited attendee of this event")
    status = "COUNTER" if reply.method == "COUNTER" else str(reply.partstat)
    entry = HistoryEntry(status=status, at=reply.dtstamp, source=reply.source)
    if entry in record.history:
        return ReplyDecision(ReplyOutcome.DUPLICATE, "reply already recorded")

    if reply.method == "COUNTER":
        return _record_only(record, entry, "counter proposal", {COUNTER_PROPOSALS: 1})
    if reply.cancelled:
        return _record_only(record, entry, "reply to a cancelled event", {REPLIES_RECORDED: 1})
    if reply.partstat not in ANSWERS:
        return _record_only(record, entry, f"{reply.partstat} is not an answer",
                            {REPLIES_RECORDED: 1})
    if record.last_reply_at is not None and reply.dtstamp < record.last_reply_at:
        return _record_only(record, entry, "older than the last answer applied",
                            {REPLIES_RECORDED: 1})

    if reply.partstat is None:  # pragma: no cover - ANSWERS holds no None
        raise InvalidReplyError("no PARTSTAT", event_uid=reply.event_uid)
    counters = statistics.merge(statistics.on_rsvp_change(record.partstat, reply.partstat),
                                {REPLIES_APPLIED: 1})
    return ReplyDecision(ReplyOutcome.APPLIED, f"{record.partstat} -> {reply.partstat}",
                         _change(record, entry, reply.partstat, reply.dtstamp, counters))


def _record_only(
    record: AttendeeRecord, entry: HistoryEntry, reason: str, counters: Counters
) -> ReplyDecision:
    return ReplyDecision(ReplyOutcome.RECORDED, reason,
                         _change(record, entry, record.partstat, record.last_reply_at, counters))


def _change(
    record: AttendeeRecord,
    entry: HistoryEntry,
    partstat: PartStat,
    last_reply_at: dt.datetime | None,
    counters: Counters,
) -> ReplyChange:
    return ReplyChange(
        key=record.key,
        expected_partstat=record.partstat,
        expected_history_length=len(record.history),
        partstat=partstat,
        last_reply_at=last_reply_at,
        entry=entry,
        counters=counters,
    )


def attendee_key(reply: Reply) -> AttendeeKey:
    """The attendee a reply speaks for."""
    return AttendeeKey.of(reply.event_uid, reply.attendee)
