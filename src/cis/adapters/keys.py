"""Storage keys, built here and nowhere else: `event#<uid>` / `attendee#<address>`, markers."""

from __future__ import annotations

from cis.domain.model import AttendeeKey

EVENT_PREFIX = "event#"
ATTENDEE_PREFIX = "attendee#"
STATISTICS_SORT_KEY = "statistics"
MARKER_PREFIX = "counted#"
MARKER_SORT_KEY = "marker"


def event_pk(event_uid: str) -> str:
    """The partition key that holds one event's attendees and statistics."""
    return EVENT_PREFIX + event_uid


def attendee_sk(key: AttendeeKey) -> str:
    """The sort key of one attendee; the address is already normalised in `key`."""
    return ATTENDEE_PREFIX + key.address


def attendee_item_key(key: AttendeeKey) -> dict[str, str]:
    """Both keys of an attendee item."""
    return {"pk": event_pk(key.event_uid), "sk": attendee_sk(key)}


def statistics_item_key(event_uid: str) -> dict[str, str]:
    """Both keys of an event's statistics item."""
    return {"pk": event_pk(event_uid), "sk": STATISTICS_SORT_KEY}


def marker_item_key(marker: str) -> dict[str, str]:
    """Both keys of a counting marker: a partition of its own, outside every event's."""
    return {"pk": MARKER_PREFIX + marker, "sk": MARKER_SORT_KEY}
