"""Checking an EVENT.json against the version of the event already recorded in the state."""

from __future__ import annotations

from pathlib import Path

from cis.cli.inputs import UsageError
from cis.domain.events import EventRecord
from cis.domain.model import AttendeeRecord, Event, Standing

__all__ = ["check_removal", "check_version", "recorded_version"]


def check_version(stored: EventRecord | None, event: Event, path: Path) -> None:
    """Refuse an EVENT.json that would send nothing, or not what its author meant.

    An older sequence than the one recorded would be stale for every attendee; the recorded
    sequence with other content is a change whose sequence was not raised, which calendars
    would ignore. The recorded version itself is fine: sending it again sends nothing new.

    Raises:
        UsageError: naming the file, the versions, and what to do.

    """
    if stored is None:
        return
    if event.sequence < stored.sequence:
        raise UsageError(
            f"{path}: sequence {event.sequence} is older than version {stored.sequence} of "
            f"{event.uid}, already recorded; give it a sequence above {stored.sequence}")
    # Datetimes compare as instants, so the same event read back from the state is equal.
    if event.sequence == stored.sequence and event != stored.event:
        raise UsageError(
            f"{path}: differs from version {stored.sequence} of {event.uid} as recorded, "
            f"with the same sequence; calendars ignore a change whose sequence is not "
            f"raised: give it sequence {stored.sequence + 1}")


def recorded_version(stored: EventRecord | None, event_uid: str, state: Path) -> EventRecord:
    """The recorded version of an event a command changes; it must have been sent before.

    Raises:
        UsageError: nothing was ever sent for the event from this state file.

    """
    if stored is None:
        raise UsageError(f"{state}: nothing was sent for event {event_uid!r} from this state "
                         "file; invite its attendees with `cis send` first")
    return stored


def check_removal(attendee: AttendeeRecord | None, event: Event, path: Path) -> None:
    """Refuse a removal at the version the attendee was already sent as an invitation.

    On the queue, a second message of a version the attendee has is a duplicate whatever it
    asks; here the organiser is at hand, and told that the removal needs its own sequence.

    Raises:
        UsageError: naming the file, the attendee's version, and the sequence to give.

    """
    if (attendee is not None and attendee.sequence == event.sequence
            and attendee.standing is not Standing.REMOVED):
        standing = (attendee.standing or Standing.INVITED).value
        raise UsageError(
            f"{path}: {attendee.email} was sent version {event.sequence} of {event.uid} "
            f"({standing}); a removal is a version of its own: give it "
            f"sequence {event.sequence + 1}")
