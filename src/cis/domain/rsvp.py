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
from cis.domain.model import (
    AttendeeRecord,
    Counters,
    HistoryEntry,
    ItipMethod,
    PartStat,
    ReplyChange,
    Standing,
    normalise_address,
)
from cis.errors import InvalidReplyError

MAX_REPLY_BYTES = 1024 * 1024
"""The most of a received message that is read: a larger one is rejected unparsed.

A calendar reply is a few kilobytes; one quoting the longest DESCRIPTION an invitation carries
(20,000 characters) twice, as Gmail does, stays under 400 KB. A megabyte of the costliest
shape costs under a second of CPU and about 20 MB (docs/rsvp.md, "Hostile input").
"""

MAX_CALENDAR_BYTES = 256 * 1024
"""The most calendar text parsed from one message, all its calendar parts together.

icalendar reads dense properties at under a megabyte a second, so this bounds its part at
about 0.4 s; a reply to the largest invitation cis sends needs under 100 KB.
"""

MAX_SOURCE_LENGTH = 200
"""Characters of a reply's PRODID kept as its history source; real ones are under 60."""

RESERVED_SOURCE_PREFIX = "cis:"
"""History sources that start so are cis's own (an invitation, a resend): no reply takes one."""

MAX_REPLY_HISTORY = 50
"""Reply entries an attendee's history keeps: the newest; each further one drops the oldest.

A person changes their answer a few times; fifty entries of at most about a kilobyte each
keep an attendee item far below DynamoDB's 400 KB, however many replies arrive. cis's own
entries (invitations, updates, resends) are never dropped: they are few, and a resend is
recognised by its entry.
"""

CLOCK_SKEW = dt.timedelta(minutes=15)
"""How far a reply's stamp may lie after the moment its mail arrived.

Calendar clients stamp replies by their device's clock, and people run clocks a few minutes
fast on purpose; AWS allows signed requests the same quarter of an hour. Anything later is a
reply from the future: applied, it would make every genuine answer until its stamp look
older than the last one applied, so it is rejected. A forged stamp can therefore hold the
last word for at most fifteen minutes.
"""

MAILBOX = "_rsvp"
"""Where replies that belong to no known attendee are counted: not a valid event uid, so it
can never collide with one, and forged mail cannot create a statistics item per made-up uid."""

ANSWERS = frozenset({PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE,
                     PartStat.DELEGATED})


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What the receiving mail system concluded about the mail (SES: PASS, FAIL, GRAY...).

    SPF, DKIM and DMARC say whether the sender is who `From` says; the spam and virus scans
    (the receipt rule's `ScanEnabled`) whether the mail is one to act on at all.
    """

    spf: str | None = None
    dkim: str | None = None
    dmarc: str | None = None
    spam: str | None = None
    virus: str | None = None

    def failures(self) -> list[str]:
        """The checks that failed outright; any of them makes a reply untrustworthy."""
        return [name.upper() for name in ("spf", "dkim", "dmarc", "spam", "virus")
                if (getattr(self, name) or "").upper() == "FAIL"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One attendee's answer as the calendar client wrote it."""

    method: ItipMethod
    event_uid: str
    attendee: str
    partstat: PartStat | None
    dtstamp: dt.datetime
    source: str
    #: The address of the one mailbox `From` names; empty when it names no such one.
    from_address: str
    cancelled: bool = False
    delegated_to: tuple[str, ...] = ()
    #: The SEQUENCE of the version answered (0 when the reply gives none, as RFC 5545 has it).
    sequence: int = 0
    #: Why `From` names no single trustworthy mailbox (two headers, two mailboxes, an address
    #: as display name...); such a reply answers for no one.
    from_problem: str | None = None


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
        InvalidReplyError: when From is not exactly one well-formed mailbox, or not the
            replying attendee's, or SES found SPF, DKIM or DMARC failing.

    """
    failed = verdicts.failures()
    if failed:
        raise InvalidReplyError(f"{'/'.join(failed)} verdict FAIL", event_uid=reply.event_uid)
    if reply.from_problem is not None:
        raise InvalidReplyError(reply.from_problem, event_uid=reply.event_uid)
    if not same_address(reply.from_address, reply.attendee):
        raise InvalidReplyError(
            f"From <{reply.from_address}> is not the replying attendee <{reply.attendee}>",
            event_uid=reply.event_uid,
        )


def check_stamp(reply: Reply, arrived_at: dt.datetime) -> None:
    """Refuse a reply stamped later than its mail arrived, beyond `CLOCK_SKEW`.

    Raises:
        InvalidReplyError: the reply's DTSTAMP (or Date, without one) is in its future.

    """
    if reply.dtstamp > arrived_at + CLOCK_SKEW:
        raise InvalidReplyError(
            f"stamped {reply.dtstamp.isoformat()}, after the mail arrived at "
            f"{arrived_at.astimezone(dt.UTC).isoformat()} (a clock {_minutes(CLOCK_SKEW)} "
            "fast is allowed)", event_uid=reply.event_uid)


def _minutes(span: dt.timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} minutes"


def decide_reply(record: AttendeeRecord | None, reply: Reply) -> ReplyDecision:
    """Decide what a trusted reply does to the attendee as currently stored.

    A reply already in the history (a redelivery) does nothing. A COUNTER proposal, a reply
    to a cancelled event, from an attendee taken off the event or whose event was cancelled,
    a NEEDS-ACTION "answer", an answer to a version older than the one that moved the time
    (its attendee was asked again) and a reply older than the last one applied are recorded
    in history and counted; only a current answer changes the status. An attendee may
    answer while a later version is being sent to them.
    """
    if record is None or record.sequence is None:
        return ReplyDecision(ReplyOutcome.REJECTED, "not an invited attendee of this event")
    counter = reply.method is ItipMethod.COUNTER
    status = ItipMethod.COUNTER if counter or reply.partstat is None else reply.partstat
    entry = HistoryEntry(status=status, at=reply.dtstamp, source=reply.source)
    if entry in record.history:
        return ReplyDecision(ReplyOutcome.DUPLICATE, "reply already recorded")

    if counter:
        return _record_only(record, entry, "counter proposal", {statistics.COUNTER_PROPOSALS: 1})
    if reply.cancelled:
        return _record_only(record, entry, "reply to a cancelled event",
                            {statistics.REPLIES_RECORDED: 1})
    if record.standing is Standing.CANCELLED:
        return _record_only(record, entry, "the event was cancelled",
                            {statistics.REPLIES_RECORDED: 1})
    if record.standing is Standing.REMOVED:
        return _record_only(record, entry, "the attendee was taken off the event",
                            {statistics.REPLIES_RECORDED: 1})
    if reply.partstat not in ANSWERS:
        return _record_only(record, entry, f"{reply.partstat} is not an answer",
                            {statistics.REPLIES_RECORDED: 1})
    if reply.sequence < record.answer_sequence:
        return _record_only(
            record, entry, f"answers version {reply.sequence}; the time changed at version "
            f"{record.answer_sequence}", {statistics.REPLIES_RECORDED: 1})
    if record.last_reply_at is not None and reply.dtstamp < record.last_reply_at:
        return _record_only(record, entry, "older than the last answer applied",
                            {statistics.REPLIES_RECORDED: 1})

    if reply.partstat is None:  # pragma: no cover - ANSWERS holds no None
        raise InvalidReplyError("no PARTSTAT", event_uid=reply.event_uid)
    counters = statistics.merge(statistics.on_rsvp_change(record.partstat, reply.partstat),
                                {statistics.REPLIES_APPLIED: 1})
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
        expected_replies_dropped=record.replies_dropped,
        partstat=partstat,
        last_reply_at=last_reply_at,
        entry=entry,
        counters=counters,
        history=_kept_history(record.history, entry),
    )


def _kept_history(
    history: tuple[HistoryEntry, ...], entry: HistoryEntry
) -> tuple[HistoryEntry, ...] | None:
    """The history with `entry` added and the oldest replies beyond `MAX_REPLY_HISTORY` gone.

    None while there is room: `entry` is then simply appended.
    """
    replies = [n for n, kept in enumerate(history)
               if not kept.source.startswith(RESERVED_SOURCE_PREFIX)]
    excess = len(replies) + 1 - MAX_REPLY_HISTORY
    if excess <= 0:
        return None
    dropped = set(replies[:excess])
    return (*(kept for n, kept in enumerate(history) if n not in dropped), entry)


def quoted(text: str, limit: int = 80) -> str:
    """A value from a reply as a reason shows it: quoted, and cut so it cannot flood a log."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def same_address(left: str, right: str) -> bool:
    """Compare addresses the way mail does in practice: case does not matter."""
    return normalise_address(left) == normalise_address(right)
