"""An event's current version, as stored beside its attendees, and how a newer one replaces it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cis.domain.model import Event

__all__ = ["EventRecord", "fanned_out", "next_event_record"]


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
    newer one keeps the last time change, or becomes it when its start or end moved.
    """
    if current is None:
        return EventRecord(event)
    if event.sequence <= current.sequence:
        return None
    moved = (event.start, event.end) != (current.event.start, current.event.end)
    return EventRecord(event, event.sequence if moved else current.times_changed_at)


def fanned_out(record: EventRecord, *, to: str | None, done: bool) -> EventRecord:
    """The record with a fan-out's progress noted."""
    return replace(record, fanned_out_to=to, fan_out_done=done)
