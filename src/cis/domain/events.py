"""An event's current version, as stored beside its attendees, and how a newer one replaces it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cis.domain.model import (
    AttendeeRecord,
    Event,
    InviteAction,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
    Standing,
)

__all__ = [
    "EventRecord",
    "fan_out_request",
    "fanned_out",
    "next_event_record",
    "reached_by_fan_out",
    "resend_request",
]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """The newest version of an event any request carried: what resend and fan-out send.

    `times_changed_at` is the SEQUENCE whose start or end last differed from the version
    before: answers given before it were given for another time, so its attendees are asked
    again. A fan-out of this version notes how far it got: every attendee up to
    `fanned_out_to` (by address) has been queued, and `fan_out_done` once all have.
    """

    event: Event
    times_changed_at: int = 0
    fanned_out_to: str | None = None
    fan_out_done: bool = False

    @property
    def sequence(self) -> int:
        """The stored version's SEQUENCE."""
        return self.event.sequence


def next_event_record(current: EventRecord | None, event: Event) -> EventRecord | None:
    """The record to store for `event`, or None when what is stored is as new or newer.

    The first version stored asks nobody again (its attendees answered no other time); a
    newer one keeps the last time change, or becomes it when its start or end moved (or it
    became, or stopped being, an all-day event).
    """
    if current is None:
        return EventRecord(event)
    if event.sequence <= current.sequence:
        return None
    moved = (event.start, event.end, event.all_day) != (
        current.event.start, current.event.end, current.event.all_day)
    return EventRecord(event, event.sequence if moved else current.times_changed_at)


def fanned_out(record: EventRecord, *, to: str | None, done: bool) -> EventRecord:
    """The record with a fan-out's progress noted."""
    return replace(record, fanned_out_to=to, fan_out_done=done)


def reached_by_fan_out(attendee: AttendeeRecord, sequence: int) -> bool:
    """Whether a fan-out of version `sequence` sends the attendee a message.

    Every attendee already sent an older version, unless taken off the event; and every
    attendee whose first invitation is being sent right now, since that claim may have been
    decided on an older version (the per-attendee rule then sends the newer one after it).
    Attendees whose first invitation failed for good are not tried again by a fan-out.
    """
    if attendee.standing is Standing.REMOVED:
        return False
    if attendee.sequence is not None:
        return attendee.sequence < sequence
    return attendee.state is InviteState.CLAIMED


def fan_out_request(attendee: AttendeeRecord, record: EventRecord) -> InviteRequest:
    """The per-attendee message a fan-out of `record` queues for `attendee`.

    The ATTENDEE line carries the attendee's answer, or NEEDS-ACTION when the version moved
    the event's time after they answered (the claim resets their answer then, too).
    """
    asked_again = attendee.answer_sequence < record.times_changed_at
    partstat = PartStat.NEEDS_ACTION if asked_again else attendee.partstat
    return InviteRequest(event=record.event, invitee=_invitee(attendee, partstat))


def resend_request(attendee: AttendeeRecord, record: EventRecord) -> InviteRequest:
    """The request that sends `attendee` the stored version again, as they now stand."""
    return InviteRequest(event=record.event, invitee=_invitee(attendee, attendee.partstat),
                         action=InviteAction.RESEND)


def _invitee(attendee: AttendeeRecord, partstat: PartStat) -> Invitee:
    return Invitee(email=attendee.email, name=attendee.name, partstat=partstat,
                   origin=attendee.origin, role=attendee.role)
