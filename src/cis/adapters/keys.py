"""Storage keys, built here and nowhere else: events, attendees, markers, suppressed addresses."""

from __future__ import annotations

import zlib

from cis.domain.model import AttendeeKey

EVENT_PREFIX = "event#"
ATTENDEE_PREFIX = "attendee#"
STATISTICS_SORT_KEY = "statistics"
"""The sort key of an event's statistics items: the whole key of the one a recount writes,
the prefix of every shard (`statistics#07`)."""
STATISTICS_SHARDS = 16
"""How many items an event's counters are spread over, so that no item takes a write per
invite: two consumers writing counters at once pick the same item one time in sixteen."""
EVENT_SORT_KEY = "event"
"""The sort key of the item that holds an event's current version, beside its attendees."""
MARKER_PREFIX = "counted#"
MARKER_SORT_KEY = "marker"
SUPPRESSION_PREFIX = "suppression#"
SUPPRESSION_SHARDS = 16
"""How many partitions the suppression list is spread over. Every claim checks its address's
item, so one partition would take a read per invite of every event; sixteen keep that load
spread, and listing the whole list is still sixteen Queries."""


def event_pk(event_uid: str) -> str:
    """The partition key that holds one event's attendees and statistics."""
    return EVENT_PREFIX + event_uid


def attendee_sk(key: AttendeeKey) -> str:
    """The sort key of one attendee; the address is already normalised in `key`."""
    return ATTENDEE_PREFIX + key.address


def attendee_item_key(key: AttendeeKey) -> dict[str, str]:
    """Both keys of an attendee item."""
    return {"pk": event_pk(key.event_uid), "sk": attendee_sk(key)}


def statistics_item_key(event_uid: str, shard: int | None = None) -> dict[str, str]:
    """Both keys of one of an event's statistics items: a shard, or the recount's item.

    Every item whose sort key starts with `STATISTICS_SORT_KEY` holds counters of the event;
    the event's statistics are their sum.
    """
    if shard is None:
        return {"pk": event_pk(event_uid), "sk": STATISTICS_SORT_KEY}
    return {"pk": event_pk(event_uid), "sk": f"{STATISTICS_SORT_KEY}#{shard:02d}"}


def event_item_key(event_uid: str) -> dict[str, str]:
    """Both keys of the item holding the event's current version."""
    return {"pk": event_pk(event_uid), "sk": EVENT_SORT_KEY}


def statistics_shard(text: str) -> int:
    """The shard that counters written for `text` (an attendee's address, a marker) go to.

    A stable hash, so an attendee's counters land in one place, spread evenly over the shards.
    """
    return zlib.crc32(text.encode("utf-8")) % STATISTICS_SHARDS


def marker_item_key(marker: str) -> dict[str, str]:
    """Both keys of a counting marker: a partition of its own, outside every event's."""
    return {"pk": MARKER_PREFIX + marker, "sk": MARKER_SORT_KEY}


def suppression_item_key(address: str) -> dict[str, str]:
    """Both keys of an address's suppression item; `address` is already normalised."""
    shard = zlib.crc32(address.encode("utf-8")) % SUPPRESSION_SHARDS
    return {"pk": f"{SUPPRESSION_PREFIX}{shard:02d}", "sk": address}


def suppression_partitions() -> list[str]:
    """The partition keys that hold the suppression list, for listing it."""
    return [f"{SUPPRESSION_PREFIX}{shard:02d}" for shard in range(SUPPRESSION_SHARDS)]
