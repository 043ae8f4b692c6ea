"""Value objects of the invite domain: events, attendees, claims and what happened to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cis.domain.delivery import DeliveryEvent, DeliveryStatus


class PartStat(StrEnum):
    """An attendee's participation status (RFC 5545 PARTSTAT for VEVENT)."""

    NEEDS_ACTION = "NEEDS-ACTION"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    TENTATIVE = "TENTATIVE"
    DELEGATED = "DELEGATED"


class EventStatus(StrEnum):
    """The event's STATUS (RFC 5545 section 3.8.1.11, VEVENT values)."""

    TENTATIVE = "TENTATIVE"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class ItipMethod(StrEnum):
    """An iTIP method (RFC 5546 section 1.4): what a calendar message asks of its reader."""

    REQUEST = "REQUEST"
    REPLY = "REPLY"
    COUNTER = "COUNTER"
    CANCEL = "CANCEL"


class Role(StrEnum):
    """An attendee's part in the event (RFC 5545 section 3.2.16, ROLE)."""

    REQ_PARTICIPANT = "REQ-PARTICIPANT"
    OPT_PARTICIPANT = "OPT-PARTICIPANT"
    NON_PARTICIPANT = "NON-PARTICIPANT"
    CHAIR = "CHAIR"


class InviteAction(StrEnum):
    """What a request asks for its attendee (message format v1 `request.action`)."""

    #: Send the event at its sequence: an invitation, an update, or the event's cancellation.
    INVITE = "invite"
    #: Take this attendee off an event that goes on: a CANCEL to them alone.
    REMOVE = "remove"
    #: Send the attendee the event's current version again, on purpose (once per request).
    RESEND = "resend"


class Standing(StrEnum):
    """Where the last message an attendee was sent left them."""

    #: Invited (a REQUEST): the event is in their calendar.
    INVITED = "invited"
    #: Taken off the event (a CANCEL to them alone); the event goes on without them.
    REMOVED = "removed"
    #: The event itself was cancelled (a CANCEL with STATUS:CANCELLED).
    CANCELLED = "cancelled"

    @property
    def method(self) -> ItipMethod:
        """The iTIP method of the message that leaves an attendee so."""
        return ItipMethod.REQUEST if self is Standing.INVITED else ItipMethod.CANCEL


class InviteState(StrEnum):
    """Where one attendee's invitation stands in the claim protocol."""

    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    RELEASED = "released"


def normalise_address(address: str) -> str:
    """Fold an address to the form used for comparison and keys.

    Mail systems treat addresses case-insensitively in practice, so `Ann@X.org` and
    `ann@x.org` must be one attendee, never two invitations.
    """
    return address.strip().lower()


@dataclass(frozen=True, slots=True)
class Event:
    """A calendar event as the organiser described it; times are timezone-aware.

    An all-day event (`all_day`) has no zone: `start` is midnight UTC of its first day and
    `end` midnight UTC of the day after its last (RFC 5545 DATE values, the end exclusive).
    """

    uid: str
    summary: str
    start: dt.datetime
    end: dt.datetime
    organizer: str
    mailto: str
    timezone: str | None = None
    description: str | None = None
    description_html: str | None = None
    location: str | None = None
    sequence: int = 0
    status: EventStatus = EventStatus.CONFIRMED
    #: A link to the meeting (a video call, say), http or https: the calendar's URL.
    url: str | None = None
    #: Minutes before the start at which the attendee's calendar reminds them; None: no VALARM.
    reminder_minutes: int | None = None
    #: The event takes whole days, written as dates (DTSTART;VALUE=DATE), in no zone.
    all_day: bool = False
    #: The RRULE of a recurring event, as `cis.domain.recurrence` writes it; None: one time.
    rrule: str | None = None
    #: The starts of the occurrences left out (EXDATE), as `start` is written.
    exdates: tuple[dt.datetime, ...] = ()
    #: The texts cut to their limits when the event was read (`cis.domain.shortening`), to
    #: be counted; not part of what the event is (a body written from it holds the cut text).
    shortened: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Invitee:
    """One attendee to invite: the address as given, and how the caller labelled them."""

    email: str
    name: str | None = None
    partstat: PartStat = PartStat.NEEDS_ACTION
    origin: str | None = None
    role: Role = Role.REQ_PARTICIPANT

    @property
    def address_key(self) -> str:
        """The normalised address that identifies this attendee within an event."""
        return normalise_address(self.email)


@dataclass(frozen=True, slots=True)
class InviteRequest:
    """One queue message: send one attendee one version of one event.

    The version is the event's `sequence`; what is sent follows from the action and the
    event's status (see `standing`).
    """

    event: Event
    invitee: Invitee
    action: InviteAction = InviteAction.INVITE

    @property
    def standing(self) -> Standing:
        """Where the message leaves the attendee: removed, the event cancelled, or invited."""
        if self.action is InviteAction.REMOVE:
            return Standing.REMOVED
        if self.event.status is EventStatus.CANCELLED:
            return Standing.CANCELLED
        return Standing.INVITED


@dataclass(frozen=True, slots=True)
class FanOut:
    """One queue message: bring every attendee already sent something to this version.

    The consumer expands it into one `InviteRequest` per attendee (an update, or the event's
    cancellation when its status is CANCELLED); attendees taken off the event are left out.
    """

    event: Event


@dataclass(frozen=True, slots=True)
class Resend:
    """One queue message: send one attendee the event's current version again, on purpose."""

    event_uid: str
    email: str


QueueMessage = InviteRequest | FanOut | Resend
"""What one queue body asks for, once parsed."""


@dataclass(frozen=True, slots=True)
class AttendeeKey:
    """Identifies one attendee of one event; the address is always normalised."""

    event_uid: str
    address: str

    @classmethod
    def of(cls, event_uid: str, email: str) -> AttendeeKey:
        """Build the key from an address as written anywhere (any case, stray spaces)."""
        return cls(event_uid, normalise_address(email))


HistoryStatus = PartStat | ItipMethod
"""What a history entry records: the PARTSTAT an invitation or answer gave, or COUNTER for a
counter proposal."""


def history_status(text: str) -> HistoryStatus:
    """Read a stored history status back into its enum.

    Raises:
        ValueError: the text is neither a PARTSTAT nor an iTIP method.

    """
    try:
        return PartStat(text)
    except ValueError:
        return ItipMethod(text)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of an attendee's status, with when and who reported it."""

    status: HistoryStatus
    at: dt.datetime
    source: str


RESEND_SOURCE = "cis:resend"
"""The history source of a resend; the request's id follows it (`resend_source`)."""


def resend_source(resend_id: str) -> str:
    """The history source of the resend asked for by request `resend_id`."""
    return f"{RESEND_SOURCE}#{resend_id}"


@dataclass(frozen=True, slots=True)
class AttendeeRecord:
    """What the repository knows about one attendee of one event."""

    key: AttendeeKey
    email: str
    name: str | None
    partstat: PartStat
    origin: str | None
    state: InviteState
    claim_token: str | None = None
    lease_expires_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    delivery_id: str | None = None
    failure_reason: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    last_reply_at: dt.datetime | None = None
    #: The SEQUENCE of the last message the mailer accepted for the attendee; None if none.
    sequence: int | None = None
    #: Where that message left the attendee; None if nothing was sent.
    standing: Standing | None = None
    #: The SEQUENCE the current (or last) claim is for.
    claim_sequence: int | None = None
    #: Answers count from this SEQUENCE on: the version whose new time asked for a new one.
    answer_sequence: int = 0
    #: Reply entries dropped from the front of `history` to keep it within its bound; with
    #: the history's length, a version of the attendee that only grows.
    replies_dropped: int = 0
    #: What the mail system reported about the messages sent to the attendee, in arrival order.
    deliveries: tuple[DeliveryEvent, ...] = ()

    @property
    def delivery_status(self) -> DeliveryStatus | None:
        """The latest report about the last message sent (`delivery_id`); None if none came.

        Reports arrive out of order, so the latest is the one the mail system dated last.
        """
        about_last = [event for event in self.deliveries if event.delivery_id == self.delivery_id]
        return max(about_last, key=lambda event: event.at).status if about_last else None
    #: The attendee's ROLE, as the last invitation claimed for them gave it.
    role: Role = Role.REQ_PARTICIPANT

    @property
    def message_id(self) -> str | None:
        """`delivery_id` under the name the public API also offers it by."""
        return self.delivery_id

    @property
    def method(self) -> ItipMethod | None:
        """The iTIP method of the last message the attendee was sent; None if none."""
        return None if self.standing is None else self.standing.method


class ClaimOutcome(StrEnum):
    """The answer to "may I send this invitation now?"."""

    CLAIMED = "claimed"
    TAKEN_OVER = "taken_over"
    ALREADY_SENT = "already_sent"
    ALREADY_FAILED = "already_failed"
    IN_PROGRESS = "in_progress"
    #: The attendee was sent (or is being sent) a later version: this one must not follow it.
    STALE = "stale"
    #: A cancellation, removal or resend for an attendee never sent anything, or a resend to
    #: one taken off the event: nothing to send.
    NEVER_SENT = "never_sent"
    #: The attendee changed since a versioned claim read it: read again and decide again.
    CHANGED = "changed"
    #: The address is on the suppression list (a permanent bounce, a complaint): never sent.
    SUPPRESSED = "suppressed"

    @property
    def granted(self) -> bool:
        """True when the claimant now owns the attendee and must send."""
        return self in (ClaimOutcome.CLAIMED, ClaimOutcome.TAKEN_OVER)


@dataclass(frozen=True, slots=True)
class Claim:
    """A request to own one attendee's invitation until `lease_expires_at`, to send a version.

    `sequence`, `action` and `standing` say which message: the event at that SEQUENCE, sent
    as an invitation, a removal or the event's cancellation, or sent again (RESEND).
    `answers_from`, when the version moved the event's start or end, is the SEQUENCE from
    which answers count: an attendee whose answer is older is asked again (NEEDS-ACTION).
    """

    key: AttendeeKey
    invitee: Invitee
    token: str
    now: dt.datetime
    lease_expires_at: dt.datetime
    sequence: int = 0
    action: InviteAction = InviteAction.INVITE
    standing: Standing = Standing.INVITED
    answers_from: int = 0
    #: For a versioned claim, the attendee as read before deciding; the claim applies only
    #: while the attendee is still so. None for a first invitation, claimed without a read.
    basis: ClaimBasis | None = None
    #: Counters to add with a granted claim (the answer's bucket, when it is asked again).
    counters: Counters = field(default_factory=dict)
    #: For a resend, the id of the request that asked for it: the history names each resend
    #: by it, so a redelivery of that request finds its resend done (`resend_source`).
    resend_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimBasis:
    """What a versioned claim was decided on: the attendee as read, or nothing stored.

    Every write that could change the decision changes one of the state, the claim token, the
    answer or the history's length, so those four tell whether the attendee is still as read.
    """

    record: AttendeeRecord | None

    def matches(self, current: AttendeeRecord | None) -> bool:
        """True while `current` is the attendee as read."""
        if self.record is None or current is None:
            return self.record is None and current is None
        return _version_of(self.record) == _version_of(current)


def _version_of(record: AttendeeRecord) -> tuple[object, ...]:
    return record.state, record.claim_token, record.partstat, len(record.history)


Counters = Mapping[str, int]
"""Statistics counter names to amounts; see `cis.domain.statistics` for the names."""


@dataclass(frozen=True, slots=True)
class MarkSent:
    """Settle a claim: the mailer accepted the message, and named it `delivery_id`.

    `sequence` and `standing` are the version it carried, which the record now remembers.
    `fence`, for an attendee's first message, is that SEQUENCE again: the store reports a
    newer version stored before this settlement (`Applied.overtaken`), as a fan-out of it may
    have passed the attendee by before they had a record.
    """

    key: AttendeeKey
    token: str
    delivery_id: str
    at: dt.datetime
    history: HistoryEntry
    counters: Counters = field(default_factory=dict)
    sequence: int = 0
    standing: Standing = Standing.INVITED
    fence: int | None = None


class Applied(list[bool]):
    """Which settlements a store applied, in order, and the versions that overtook them.

    `overtaken` maps an event to the SEQUENCE of its stored version, where a settled first
    message carried an older one (its `MarkSent.fence`).
    """

    def __init__(self, applied: Iterable[bool] = (),
                 overtaken: Mapping[str, int] | None = None) -> None:
        super().__init__(applied)
        self.overtaken: dict[str, int] = dict(overtaken or {})


@dataclass(frozen=True, slots=True)
class MarkFailed:
    """Settle a claim: the invitation can never be delivered, for `reason`."""

    key: AttendeeKey
    token: str
    reason: str
    at: dt.datetime
    counters: Counters = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Release:
    """Settle a claim: nothing was sent, so a later attempt may claim and send."""

    key: AttendeeKey
    token: str
    counters: Counters = field(default_factory=dict)


Settlement = MarkSent | MarkFailed | Release
"""How a claim ends; each is applied only while the claim token still owns the attendee."""


@dataclass(frozen=True, slots=True)
class ReplyChange:
    """Record one RSVP reply, but only if the attendee is still exactly as it was read.

    The read state is `expected_partstat`, `expected_history_length` and
    `expected_replies_dropped` (every applied reply appends to the history, and drops an older
    reply once it is full, so length and drops together work as a version). A concurrent or
    redelivered reply therefore finds the condition false, reads again, and decides again.
    """

    key: AttendeeKey
    expected_partstat: PartStat
    expected_history_length: int
    partstat: PartStat
    last_reply_at: dt.datetime | None
    entry: HistoryEntry
    counters: Counters = field(default_factory=dict)
    #: The read state's `replies_dropped`: once the history is full, a reply keeps its length.
    expected_replies_dropped: int = 0
    #: The whole history to store, `entry` last, when older replies make way for it; None
    #: appends `entry` to the history as it is.
    history: tuple[HistoryEntry, ...] | None = None
